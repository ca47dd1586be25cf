/* IPv4/TCP/UDP header parsing and building with Internet checksums; parsers accept any bytes. */
#ifndef BPFMIRROR_PKT_H
#define BPFMIRROR_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PKT_IPV4_HDR_LEN 20
#define PKT_TCP_HDR_LEN	 20
#define PKT_UDP_HDR_LEN	 8
#define PKT_TCP_OPT_MAX	 40
#define PKT_IPV4_MAX_LEN 65535

#define PKT_TCP_FIN 0x01
#define PKT_TCP_SYN 0x02
#define PKT_TCP_RST 0x04
#define PKT_TCP_PSH 0x08
#define PKT_TCP_ACK 0x10
#define PKT_TCP_URG 0x20

/* A parsed IPv4 header. Addresses stay in network byte order, the rest is host order. */
struct pkt_ipv4 {
	uint32_t saddr;
	uint32_t daddr;
	uint8_t proto;
	uint8_t ttl;
	uint16_t id;
	const uint8_t *l3; /* start of the IP header */
	size_t l3_len;	   /* total length from the header (trailing link padding excluded) */
	const uint8_t *l4; /* transport header */
	size_t l4_len;	   /* transport header + payload */
};

/* The TCP options this project looks at; has_* say which were present. */
struct pkt_tcp_opts {
	bool has_mss;
	bool has_wscale;
	bool sack_ok;
	bool has_ts;
	uint8_t wscale;
	uint16_t mss;
};

/* A parsed TCP header, host byte order. */
struct pkt_tcp {
	uint16_t sport;
	uint16_t dport;
	uint32_t seq;
	uint32_t ack;
	uint8_t flags;
	uint16_t window;
	struct pkt_tcp_opts opts;
	const uint8_t *payload;
	size_t payload_len;
};

/* A parsed UDP header, host byte order. */
struct pkt_udp {
	uint16_t sport;
	uint16_t dport;
	const uint8_t *payload;
	size_t payload_len;
};

/* What pkt_build_tcp() writes; addresses in network byte order, the rest host order. */
struct pkt_tcp_spec {
	uint32_t saddr;
	uint32_t daddr;
	uint16_t sport;
	uint16_t dport;
	uint32_t seq;
	uint32_t ack;
	uint8_t flags;
	uint16_t window;
	uint16_t ip_id;
	const struct pkt_tcp_opts *opts; /* NULL: no options (MSS/WS/SACK-OK only are written) */
};

/* Sequence-space comparisons (RFC 1982 style, modulo 2^32). */
static inline bool pkt_seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static inline bool pkt_seq_le(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) <= 0;
}

/* Adds LEN bytes to a running one's complement sum; every chunk but the last must be even. */
uint32_t pkt_csum_add(uint32_t sum, const void *data, size_t len);
/* Folds a running sum into the final 16-bit checksum (already complemented). */
uint16_t pkt_csum_fold(uint32_t sum);

/*
 * Parses an IPv4 header: version, IHL, total length against LEN, header checksum is not
 * required (copies may carry offloaded checksums). Fragments other than a whole datagram are
 * refused with -EPROTONOSUPPORT; malformed input gives -EINVAL.
 */
int pkt_parse_ipv4(const void *buf, size_t len, struct pkt_ipv4 *out);
/* Parses the TCP header and options inside IP; -EINVAL when malformed or not TCP. */
int pkt_parse_tcp(const struct pkt_ipv4 *ip, struct pkt_tcp *out);
/* Parses the UDP header inside IP; -EINVAL when malformed or not UDP. */
int pkt_parse_udp(const struct pkt_ipv4 *ip, struct pkt_udp *out);

/* Length of the TCP header pkt_build_tcp() writes for these options. */
size_t pkt_tcp_hdr_len(const struct pkt_tcp_opts *opts);
/*
 * Writes an IPv4+TCP packet with both checksums into BUF. PAYLOAD may already sit at
 * BUF + 20 + pkt_tcp_hdr_len() (it is moved, not copied). Returns the packet length or
 * -ENOSPC / -EMSGSIZE.
 */
ssize_t pkt_build_tcp(void *buf, size_t cap, const struct pkt_tcp_spec *spec, const void *payload,
		      size_t len);
/* Writes an IPv4+UDP packet with both checksums; returns its length or -ENOSPC / -EMSGSIZE. */
ssize_t pkt_build_udp(void *buf, size_t cap, uint32_t saddr, uint32_t daddr, uint16_t sport,
		      uint16_t dport, const void *payload, size_t len);

/*
 * Recomputes the IPv4 header checksum and the TCP or UDP checksum of a whole
 * (unfragmented) packet in place: copies taken at a veth may carry partial,
 * offloaded checksums. Returns 0, or -EINVAL for what is not a valid packet.
 */
int pkt_fix_checksums(void *buf, size_t len);

/* True when the IPv4 header checksum of a parsed packet verifies. */
bool pkt_ipv4_csum_ok(const struct pkt_ipv4 *ip);
/* True when the TCP or UDP checksum (with pseudo header) of a parsed packet verifies. */
bool pkt_l4_csum_ok(const struct pkt_ipv4 *ip);

#endif
