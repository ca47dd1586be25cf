/* Session packets: validating and injecting the client's, batching the data plane's. */
#include "session_priv.h"
#include "pkt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/ip.h>
#include <stdlib.h>
#include <string.h>

/* ---- packets from the client ------------------------------------------- */

/*
 * A session emits only packets of its own flows, as its pod: the twin's
 * outgoing traffic (source port in its reserved range), replies of the
 * stolen connections the agent handed to it (the BPF flow table names the
 * stealing session of each), and ICMP errors about either. Everything else
 * is refused, counted by reason.
 */

#define ICMP_HDR_LEN 8

struct check {
	const struct session *s;
	session_flow_owner_fn owner;
	const void *ctx;
};

static const char *const refusal_names[INJECT_REFUSAL_MAX] = {
    [INJECT_OK] = "ok",
    [INJECT_MALFORMED] = "malformed",
    [INJECT_SOURCE] = "source",
    [INJECT_FRAGMENT] = "fragment",
    [INJECT_PROTOCOL] = "protocol",
    [INJECT_PORT] = "port",
    [INJECT_FLOW] = "flow",
    [INJECT_ICMP] = "icmp",
};

const char *session_refusal_name(enum inject_refusal r)
{
	return (unsigned)r < INJECT_REFUSAL_MAX ? refusal_names[r] : "unknown";
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static bool port_reserved(const struct session *s, uint16_t port)
{
	return s->range_held && port >= s->range.lo && port <= s->range.hi;
}

/* A port the session claims for steal, listening or not; the flow table says which flows are its.
 */
static bool port_stolen(const struct session *s, uint16_t port)
{
	for (size_t i = 0; i < s->nsubs; i++)
		if (s->subs[i].mode == DATAPATH_STEAL && s->subs[i].port == port)
			return true;
	return false;
}

/* Whether the TCP flow client -> pod (addresses and ports as on the wire) was stolen for s. */
static bool flow_owned(const struct check *c, uint32_t client, const uint8_t client_port[2],
		       uint32_t pod, const uint8_t pod_port[2])
{
	struct bm_flow_key k;

	if (!port_stolen(c->s, rd16(pod_port)) || !c->owner)
		return false;
	memset(&k, 0, sizeof(k));
	k.family = BM_AF_INET;
	k.proto = IPPROTO_TCP;
	memcpy(&k.sport, client_port, 2);
	memcpy(&k.dport, pod_port, 2);
	k.saddr[0] = client;
	k.daddr[0] = pod;
	return c->owner(c->ctx, &k) == c->s->id;
}

/* TCP or UDP from the pod: a reserved source port, or a reply on a flow stolen for s. */
static enum inject_refusal check_ports(const struct check *c, const struct pkt_ipv4 *ip)
{
	if (port_reserved(c->s, rd16(ip->l4)))
		return INJECT_OK;
	if (ip->proto != IPPROTO_TCP || !port_stolen(c->s, rd16(ip->l4)))
		return INJECT_PORT;
	return flow_owned(c, ip->daddr, ip->l4 + 2, ip->saddr, ip->l4) ? INJECT_OK : INJECT_FLOW;
}

/*
 * ICMP: only errors (unreachable, time exceeded, parameter problem) about a
 * packet the pod received on one of the session's flows, sent back to that
 * packet's sender. The embedded header must be whole, with its ports.
 */
static enum inject_refusal check_icmp(const struct check *c, const struct pkt_ipv4 *ip)
{
	const uint8_t *e = ip->l4 + ICMP_HDR_LEN, *el4;
	uint8_t type = ip->l4[0];
	uint32_t esrc, edst;
	size_t eihl;

	if (ip->l4_len < ICMP_HDR_LEN + 20 + 8 || (type != 3 && type != 11 && type != 12))
		return INJECT_ICMP;
	eihl = (size_t)(e[0] & 0x0f) * 4;
	if (e[0] >> 4 != 4 || eihl < 20 || ip->l4_len < ICMP_HDR_LEN + eihl + 8 ||
	    (rd16(e + 6) & 0x1fff) != 0)
		return INJECT_ICMP;
	memcpy(&esrc, e + 12, 4);
	memcpy(&edst, e + 16, 4);
	if (edst != ip->saddr || esrc != ip->daddr)
		return INJECT_ICMP;
	el4 = e + eihl;
	if ((e[9] == IPPROTO_TCP || e[9] == IPPROTO_UDP) && port_reserved(c->s, rd16(el4 + 2)))
		return INJECT_OK;
	if (e[9] == IPPROTO_TCP && flow_owned(c, esrc, el4, edst, el4 + 2))
		return INJECT_OK;
	return INJECT_ICMP;
}

enum inject_refusal session_packet_check(const struct session *s, const uint8_t *p, size_t len,
					 session_flow_owner_fn owner, const void *ctx)
{
	const struct check c = {s, owner, ctx};
	struct pkt_ipv4 ip;
	int err;

	if (s->pod_ip.family != AF_INET)
		return INJECT_SOURCE;
	err = pkt_parse_ipv4(p, len, &ip);
	if (err == -EPROTONOSUPPORT)
		return INJECT_FRAGMENT;
	/* The whole packet, no trailing bytes, and at least the transport's ports. */
	if (err || ip.l3_len != len || ip.l4_len < 4)
		return INJECT_MALFORMED;
	if (ip.saddr != s->pod_ip.u.v4.s_addr)
		return INJECT_SOURCE;
	if (ip.proto == IPPROTO_TCP || ip.proto == IPPROTO_UDP)
		return check_ports(&c, &ip);
	if (ip.proto == IPPROTO_ICMP)
		return check_icmp(&c, &ip);
	return INJECT_PROTOCOL;
}

static uint32_t dp_flow_owner(const void *ctx, const struct bm_flow_key *key)
{
	return datapath_flow_stealer(ctx, key);
}

int session_on_packets(struct session *s, const Bpfmirror__Frame *f)
{
	Bpfmirror__PacketBatch *b = f->packet_batch, *plain = NULL;
	enum inject_refusal why;
	int err;

	if (s->state != S_ATTACHED)
		return session_send_error(s, 0, BPFMIRROR__ERROR__CODE__CODE_UNEXPECTED_MESSAGE,
					  false, "packets before attach");
	if (b->compressed) {
		err = wire_batch_decompress(b, BPFMIRROR_INFLATE_MAX, &plain);
		if (err) {
			s->ag->ctr.frame_errors++;
			return session_send_error(s, 0,
						  BPFMIRROR__ERROR__CODE__CODE_MALFORMED_FRAME,
						  false, "packet batch does not inflate");
		}
		b = plain;
	}
	for (size_t i = 0; i < b->n_packets; i++) {
		const ProtobufCBinaryData *d = &b->packets[i]->data;
		s->ag->ctr.packets_from_client++;
		why = session_packet_check(s, d->data, d->len, s->ag->dp ? dp_flow_owner : NULL,
					   s->ag->dp);
		if (why != INJECT_OK) {
			s->ag->ctr.packets_rejected++;
			s->ag->ctr.packets_refused[why]++;
			continue;
		}
		if (!s->ag->dp)
			continue;
		err = datapath_inject(s->ag->dp, d->data, d->len);
		if (err)
			s->ag->ctr.inject_errors++;
		else
			s->ag->ctr.packets_injected++;
	}
	if (plain)
		wire_batch_free(plain);
	return 0;
}

void session_batch_clear(struct session *s)
{
	for (size_t i = 0; i < s->npkts; i++)
		free(s->pkt_data[i]);
	s->npkts = 0;
	s->batch_bytes = 0;
}

/* ---- packets to the client ---------------------------------------------- */

static int batch_flush(struct session *s)
{
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT;
	Bpfmirror__PacketBatch b = BPFMIRROR__PACKET_BATCH__INIT;
	size_t n = s->npkts;
	int err;

	if (!n)
		return 0;
	b.packets = s->pkt_ptrs;
	b.n_packets = n;
	f.body_case = BPFMIRROR__FRAME__BODY_PACKET_BATCH;
	f.packet_batch = &b;
	err = wire_send(s->wr, &f);
	if (err == -ENOBUFS) {
		/* The client reads slower than its pod receives: drop, count. */
		s->ag->ctr.packets_backlog_drop += n;
		err = 0;
	} else if (!err) {
		s->ag->ctr.frames_out++;
		s->ag->ctr.packets_to_client += n;
		s->ag->ctr.bytes_to_client += s->batch_bytes;
	}
	session_batch_clear(s);
	if (!err) {
		err = frame_writer_flush(s->wr, s->fd);
		if (err > 0)
			err = 0;
		session_update_interest(s);
	}
	return err;
}

static void batch_add(struct session *s, const struct datapath_pkt *pkt)
{
	Bpfmirror__Packet *p;
	uint8_t *copy;

	if (s->npkts == BATCH_MAX_PACKETS || s->batch_bytes + pkt->len > BATCH_MAX_BYTES) {
		if (batch_flush(s) < 0) {
			s->ag->ctr.packets_backlog_drop++;
			return;
		}
	}
	copy = malloc(pkt->len ? pkt->len : 1);
	if (!copy) {
		s->ag->ctr.packets_backlog_drop++;
		return;
	}
	memcpy(copy, pkt->data, pkt->len);
	p = &s->pkts[s->npkts];
	bpfmirror__packet__init(p);
	p->data.data = copy;
	p->data.len = pkt->len;
	p->direction = pkt->hdr->dir == BM_DIR_TO_POD
			   ? BPFMIRROR__PACKET__DIRECTION__DIRECTION_INGRESS
			   : BPFMIRROR__PACKET__DIRECTION__DIRECTION_EGRESS;
	p->flags = pkt->hdr->flags;
	p->reason = pkt->hdr->reason;
	p->timestamp_ns = pkt->hdr->tstamp_ns;
	s->pkt_ptrs[s->npkts] = p;
	s->pkt_data[s->npkts] = copy;
	s->npkts++;
	s->batch_bytes += pkt->len;
}

int session_deliver_packet(struct agent *ag, const void *opaque)
{
	const struct datapath_pkt *pkt = opaque;

	for (unsigned i = 0; i < BM_MAX_SESSIONS; i++) {
		struct session *s;
		if (!pkt->hdr->sessions[i])
			continue;
		s = session_find(ag, pkt->hdr->sessions[i]);
		if (s && s->state == S_ATTACHED)
			batch_add(s, pkt);
	}
	return 0;
}

void session_flush_all(struct agent *ag)
{
	struct session *s = ag->sessions, *next;

	for (; s; s = next) {
		next = s->next;
		if (batch_flush(s) < 0)
			session_close(s, "connection lost while sending packets");
	}
}
