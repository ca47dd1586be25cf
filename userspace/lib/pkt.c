/* IPv4/TCP/UDP header parsing and building with Internet checksums; parsers accept any bytes. */
#include "pkt.h"

#include <errno.h>
#include <string.h>

#define IP_MF	      0x2000
#define IP_DF	      0x4000
#define IP_OFFMASK    0x1fff
#define IPPROTO_TCP_  6
#define IPPROTO_UDP_  17
#define DEFAULT_TTL   64
#define TCPOPT_EOL    0
#define TCPOPT_NOP    1
#define TCPOPT_MSS    2
#define TCPOPT_WS     3
#define TCPOPT_SACKOK 4
#define TCPOPT_TS     8

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

uint32_t pkt_csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t s = sum;

	while (len >= 2) {
		s += rd16(p);
		p += 2;
		len -= 2;
	}
	if (len)
		s += (uint32_t)p[0] << 8;
	while (s >> 32)
		s = (s & 0xffffffffu) + (s >> 32);
	return (uint32_t)s;
}

uint16_t pkt_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The pseudo header of RFC 793/768: addresses, protocol, transport length. */
static uint32_t pseudo_sum(uint32_t saddr, uint32_t daddr, uint8_t proto, size_t l4_len)
{
	uint8_t ph[12];

	memcpy(ph, &saddr, 4);
	memcpy(ph + 4, &daddr, 4);
	ph[8] = 0;
	ph[9] = proto;
	wr16(ph + 10, (uint16_t)l4_len);
	return pkt_csum_add(0, ph, sizeof(ph));
}

int pkt_parse_ipv4(const void *buf, size_t len, struct pkt_ipv4 *out)
{
	const uint8_t *p = buf;
	size_t ihl, tot;
	uint16_t frag;

	if (!p || len < PKT_IPV4_HDR_LEN || (p[0] >> 4) != 4)
		return -EINVAL;
	ihl = (size_t)(p[0] & 0x0f) * 4;
	tot = rd16(p + 2);
	if (ihl < PKT_IPV4_HDR_LEN || tot < ihl || tot > len)
		return -EINVAL;
	frag = rd16(p + 6);
	if (frag & (IP_MF | IP_OFFMASK))
		return -EPROTONOSUPPORT;
	out->id = rd16(p + 4);
	out->ttl = p[8];
	out->proto = p[9];
	memcpy(&out->saddr, p + 12, 4);
	memcpy(&out->daddr, p + 16, 4);
	out->l3 = p;
	out->l3_len = tot;
	out->l4 = p + ihl;
	out->l4_len = tot - ihl;
	return 0;
}

/* Reads the options we care about; unknown ones are skipped, a malformed list is refused. */
static int parse_tcp_opts(const uint8_t *o, size_t len, struct pkt_tcp_opts *out)
{
	size_t i = 0;

	memset(out, 0, sizeof(*out));
	while (i < len) {
		uint8_t kind = o[i], olen;

		if (kind == TCPOPT_EOL)
			break;
		if (kind == TCPOPT_NOP) {
			i++;
			continue;
		}
		if (i + 1 >= len)
			return -EINVAL;
		olen = o[i + 1];
		if (olen < 2 || olen > len - i)
			return -EINVAL;
		if (kind == TCPOPT_MSS && olen == 4) {
			out->has_mss = true;
			out->mss = rd16(o + i + 2);
		} else if (kind == TCPOPT_WS && olen == 3) {
			out->has_wscale = true;
			/* RFC 7323: shifts above 14 are treated as 14. */
			out->wscale = o[i + 2] > 14 ? 14 : o[i + 2];
		} else if (kind == TCPOPT_SACKOK && olen == 2) {
			out->sack_ok = true;
		} else if (kind == TCPOPT_TS && olen == 10) {
			out->has_ts = true;
		}
		i += olen;
	}
	return 0;
}

int pkt_parse_tcp(const struct pkt_ipv4 *ip, struct pkt_tcp *out)
{
	const uint8_t *t = ip->l4;
	size_t doff;

	if (ip->proto != IPPROTO_TCP_ || ip->l4_len < PKT_TCP_HDR_LEN)
		return -EINVAL;
	doff = (size_t)(t[12] >> 4) * 4;
	if (doff < PKT_TCP_HDR_LEN || doff > ip->l4_len)
		return -EINVAL;
	if (parse_tcp_opts(t + PKT_TCP_HDR_LEN, doff - PKT_TCP_HDR_LEN, &out->opts))
		return -EINVAL;
	out->sport = rd16(t);
	out->dport = rd16(t + 2);
	out->seq = rd32(t + 4);
	out->ack = rd32(t + 8);
	out->flags = t[13] & 0x3f;
	out->window = rd16(t + 14);
	out->payload = t + doff;
	out->payload_len = ip->l4_len - doff;
	return 0;
}

int pkt_parse_udp(const struct pkt_ipv4 *ip, struct pkt_udp *out)
{
	const uint8_t *u = ip->l4;
	size_t ulen;

	if (ip->proto != IPPROTO_UDP_ || ip->l4_len < PKT_UDP_HDR_LEN)
		return -EINVAL;
	ulen = rd16(u + 4);
	if (ulen < PKT_UDP_HDR_LEN || ulen > ip->l4_len)
		return -EINVAL;
	out->sport = rd16(u);
	out->dport = rd16(u + 2);
	out->payload = u + PKT_UDP_HDR_LEN;
	out->payload_len = ulen - PKT_UDP_HDR_LEN;
	return 0;
}

size_t pkt_tcp_hdr_len(const struct pkt_tcp_opts *opts)
{
	size_t n = 0;

	if (opts) {
		n += opts->has_mss ? 4 : 0;
		n += opts->has_wscale ? 4 : 0; /* NOP + 3 */
		n += opts->sack_ok ? 4 : 0;    /* NOP NOP + 2 */
	}
	return PKT_TCP_HDR_LEN + n;
}

static void write_ipv4(uint8_t *p, uint32_t saddr, uint32_t daddr, uint8_t proto, uint16_t id,
		       size_t tot)
{
	p[0] = 0x45;
	p[1] = 0;
	wr16(p + 2, (uint16_t)tot);
	wr16(p + 4, id);
	wr16(p + 6, IP_DF);
	p[8] = DEFAULT_TTL;
	p[9] = proto;
	wr16(p + 10, 0);
	memcpy(p + 12, &saddr, 4);
	memcpy(p + 16, &daddr, 4);
	wr16(p + 10, pkt_csum_fold(pkt_csum_add(0, p, PKT_IPV4_HDR_LEN)));
}

ssize_t pkt_build_tcp(void *buf, size_t cap, const struct pkt_tcp_spec *s, const void *payload,
		      size_t len)
{
	const struct pkt_tcp_opts *o = s->opts;
	size_t thl = pkt_tcp_hdr_len(o);
	size_t tot = PKT_IPV4_HDR_LEN + thl + len;
	uint8_t *p = buf, *t = p + PKT_IPV4_HDR_LEN, *op = t + PKT_TCP_HDR_LEN;
	uint32_t sum;

	if (tot > PKT_IPV4_MAX_LEN)
		return -EMSGSIZE;
	if (tot > cap)
		return -ENOSPC;
	if (len)
		memmove(t + thl, payload, len);
	write_ipv4(p, s->saddr, s->daddr, IPPROTO_TCP_, s->ip_id, tot);
	wr16(t, s->sport);
	wr16(t + 2, s->dport);
	wr32(t + 4, s->seq);
	wr32(t + 8, s->ack);
	t[12] = (uint8_t)((thl / 4) << 4);
	t[13] = s->flags;
	wr16(t + 14, s->window);
	wr16(t + 16, 0);
	wr16(t + 18, 0);
	if (o && o->has_mss) {
		op[0] = TCPOPT_MSS;
		op[1] = 4;
		wr16(op + 2, o->mss);
		op += 4;
	}
	if (o && o->has_wscale) {
		op[0] = TCPOPT_NOP;
		op[1] = TCPOPT_WS;
		op[2] = 3;
		op[3] = o->wscale;
		op += 4;
	}
	if (o && o->sack_ok) {
		op[0] = TCPOPT_NOP;
		op[1] = TCPOPT_NOP;
		op[2] = TCPOPT_SACKOK;
		op[3] = 2;
	}
	sum = pseudo_sum(s->saddr, s->daddr, IPPROTO_TCP_, thl + len);
	wr16(t + 16, pkt_csum_fold(pkt_csum_add(sum, t, thl + len)));
	return (ssize_t)tot;
}

ssize_t pkt_build_udp(void *buf, size_t cap, uint32_t saddr, uint32_t daddr, uint16_t sport,
		      uint16_t dport, const void *payload, size_t len)
{
	size_t tot = PKT_IPV4_HDR_LEN + PKT_UDP_HDR_LEN + len;
	uint8_t *p = buf, *u = p + PKT_IPV4_HDR_LEN;
	uint16_t c;

	if (tot > PKT_IPV4_MAX_LEN)
		return -EMSGSIZE;
	if (tot > cap)
		return -ENOSPC;
	if (len)
		memmove(u + PKT_UDP_HDR_LEN, payload, len);
	write_ipv4(p, saddr, daddr, IPPROTO_UDP_, 0, tot);
	wr16(u, sport);
	wr16(u + 2, dport);
	wr16(u + 4, (uint16_t)(PKT_UDP_HDR_LEN + len));
	wr16(u + 6, 0);
	c = pkt_csum_fold(
	    pkt_csum_add(pseudo_sum(saddr, daddr, IPPROTO_UDP_, PKT_UDP_HDR_LEN + len), u,
			 PKT_UDP_HDR_LEN + len));
	/* RFC 768: a computed zero is sent as all ones; zero means "no checksum". */
	wr16(u + 6, c ? c : 0xffff);
	return (ssize_t)tot;
}

bool pkt_ipv4_csum_ok(const struct pkt_ipv4 *ip)
{
	size_t ihl = (size_t)(ip->l4 - ip->l3);

	return pkt_csum_fold(pkt_csum_add(0, ip->l3, ihl)) == 0;
}

bool pkt_l4_csum_ok(const struct pkt_ipv4 *ip)
{
	size_t len = ip->l4_len;
	uint32_t sum;

	if (ip->proto == IPPROTO_UDP_) {
		if (len < PKT_UDP_HDR_LEN)
			return false;
		if (rd16(ip->l4 + 6) == 0)
			return true;
		len = rd16(ip->l4 + 4);
		if (len < PKT_UDP_HDR_LEN || len > ip->l4_len)
			return false;
	} else if (ip->proto != IPPROTO_TCP_) {
		return false;
	}
	sum = pseudo_sum(ip->saddr, ip->daddr, ip->proto, len);
	return pkt_csum_fold(pkt_csum_add(sum, ip->l4, len)) == 0;
}

int pkt_fix_checksums(void *buf, size_t len)
{
	struct pkt_ipv4 ip;
	uint8_t *p = buf;
	size_t ihl, l4len;
	uint32_t sum;
	uint16_t c;

	if (pkt_parse_ipv4(buf, len, &ip))
		return -EINVAL;
	ihl = (size_t)(p[0] & 0x0f) * 4;
	wr16(p + 10, 0);
	wr16(p + 10, pkt_csum_fold(pkt_csum_add(0, p, ihl)));
	l4len = len - ihl;
	if (p[9] == IPPROTO_TCP_ && l4len >= PKT_TCP_HDR_LEN) {
		wr16(p + ihl + 16, 0);
		sum = pseudo_sum(ip.saddr, ip.daddr, IPPROTO_TCP_, l4len);
		wr16(p + ihl + 16, pkt_csum_fold(pkt_csum_add(sum, p + ihl, l4len)));
	} else if (p[9] == IPPROTO_UDP_ && l4len >= PKT_UDP_HDR_LEN) {
		wr16(p + ihl + 6, 0);
		sum = pseudo_sum(ip.saddr, ip.daddr, IPPROTO_UDP_, l4len);
		c = pkt_csum_fold(pkt_csum_add(sum, p + ihl, l4len));
		wr16(p + ihl + 6, c ? c : 0xffff);
	}
	return 0;
}
