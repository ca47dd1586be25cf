/* libFuzzer target: arbitrary and structured packets, both directions, into the TCP replayer. */
// clang-format off
// FUZZ_SOURCES: userspace/replay/replay.c userspace/replay/replay_buf.c userspace/lib/pkt.c userspace/lib/log.c
// clang-format on
#include "log.h"
#include "pkt.h"
#include "replay.h"

#include <stdlib.h>
#include <string.h>

/*
 * Input: a first byte of settings, then operations. Each operation starts with a byte whose
 * low two bits choose: raw client copy, raw local packet, clock step, or a structured TCP
 * segment (12 bytes of fields) so that deep states are reached quickly. An optional responder
 * plays a cooperative local stack (SYN-ACKs, ACKs) so established connections get exercised.
 * Invariants checked: every emitted packet parses with valid checksums and fits the MTU; the
 * memory count never exceeds the budget; after a reset of everything nothing stays accounted.
 */

#define CISN  0xfffffff0u
#define LISN  0x7ffffff0u
#define QMAX  64
#define MTU   1500
#define TOTAL (24 * 1024)

struct fz {
	struct replay *r;
	bool respond;
	uint64_t now;
	uint8_t q[QMAX][128];
	size_t qlen[QMAX];
	unsigned qn;
};

static uint32_t caddr = 0x0700010a, paddr = 0x0500f40a; /* 10.1.0.7, 10.244.0.5 */
static uint8_t pattern[4096 + 64];

static void queue_local(struct fz *z, const struct pkt_tcp *t, uint8_t flags, uint32_t seq,
			uint32_t ack)
{
	struct pkt_tcp_opts o = {.has_mss = true, .mss = 1000, .has_wscale = true, .wscale = 3};
	struct pkt_tcp_spec s = {.saddr = paddr,
				 .daddr = caddr,
				 .sport = t->dport,
				 .dport = t->sport,
				 .seq = seq,
				 .ack = ack,
				 .flags = flags,
				 .window = 512,
				 .opts = (flags & PKT_TCP_SYN) ? &o : NULL};
	ssize_t n;

	if (z->qn >= QMAX)
		return;
	n = pkt_build_tcp(z->q[z->qn], sizeof(z->q[0]), &s, NULL, 0);
	if (n > 0)
		z->qlen[z->qn++] = (size_t)n;
}

static int emit_cb(void *ctx, const void *pkt, size_t len)
{
	struct fz *z = ctx;
	struct pkt_ipv4 ip;
	struct pkt_tcp t;

	if (len > MTU || pkt_parse_ipv4(pkt, len, &ip) || !pkt_ipv4_csum_ok(&ip) ||
	    !pkt_l4_csum_ok(&ip) || pkt_parse_tcp(&ip, &t))
		abort();
	if (!z->respond || (t.flags & PKT_TCP_RST))
		return 0;
	if (t.flags & PKT_TCP_SYN)
		queue_local(z, &t, PKT_TCP_SYN | PKT_TCP_ACK, LISN, t.seq + 1);
	else if (t.payload_len || (t.flags & PKT_TCP_FIN))
		queue_local(z, &t, PKT_TCP_ACK, LISN + 1,
			    t.seq + (uint32_t)t.payload_len + ((t.flags & PKT_TCP_FIN) ? 1 : 0));
	return len % 97 == 0 ? -1 : 0; /* now and then the tun is full */
}

static void drain(struct fz *z)
{
	/* Each round may queue answers to what it emitted; bounded rounds keep it finite. */
	for (int round = 0; round < 8 && z->qn; round++) {
		uint8_t q[QMAX][128];
		size_t qlen[QMAX];
		unsigned n = z->qn;

		memcpy(q, z->q, sizeof(q));
		memcpy(qlen, z->qlen, sizeof(qlen));
		z->qn = 0;
		for (unsigned i = 0; i < n; i++)
			replay_from_local(z->r, q[i], qlen[i], z->now);
	}
	z->qn = 0;
}

static void structured(struct fz *z, const uint8_t *b)
{
	static uint8_t buf[4096 + 128];
	bool local = b[0] & 1;
	uint16_t cport = (uint16_t)(40000 + ((b[0] >> 1) & 3));
	uint32_t off = (uint32_t)(b[2] << 8 | b[3]), aoff = (uint32_t)(b[4] << 8 | b[5]);
	struct pkt_tcp_opts o = {.has_mss = b[9] & 1,
				 .mss = (uint16_t)(b[10] << 4),
				 .has_wscale = b[9] & 2,
				 .wscale = b[10] & 15,
				 .sack_ok = b[9] & 4};
	struct pkt_tcp_spec s = {.flags = b[1] & 0x3f,
				 .window = (uint16_t)(b[6] << 8 | b[7]),
				 .opts = (b[9] & 8) ? &o : NULL};
	size_t len = (size_t)b[8] * 16;
	ssize_t n;

	if (local) {
		s.saddr = paddr;
		s.daddr = caddr;
		s.sport = 8080;
		s.dport = cport;
		s.seq = LISN + off;
		s.ack = CISN + aoff;
	} else {
		s.saddr = caddr;
		s.daddr = paddr;
		s.sport = cport;
		s.dport = 8080;
		s.seq = CISN + off;
		s.ack = LISN + aoff;
	}
	n = pkt_build_tcp(buf, sizeof(buf), &s, pattern + (off % 64), len);
	if (n <= 0)
		return;
	if (local)
		replay_from_local(z->r, buf, (size_t)n, z->now);
	else
		replay_from_agent(z->r, buf, (size_t)n, z->now);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct replay_opts o = {.emit = emit_cb,
				.mtu = MTU,
				.mem_total = TOTAL,
				.mem_conn = 16 * 1024,
				.max_conns = 3,
				.rto_ms = 10,
				.rto_max_ms = 80,
				.max_retrans = 4,
				.gap_timeout_ms = 300,
				.idle_timeout_ms = 5000,
				.linger_ms = 500};
	struct replay_stats st;
	struct fz z = {0};
	size_t i = 1;

	if (size < 1)
		return 0;
	log_set_level(LOG_LVL_ERROR);
	for (size_t k = 0; k < sizeof(pattern); k++)
		pattern[k] = (uint8_t)k;
	z.respond = data[0] & 1;
	z.now = 1000;
	o.ctx = &z;
	z.r = replay_new(&o);
	if (!z.r)
		abort();
	while (i < size) {
		uint8_t op = data[i++];
		size_t len;

		switch (op & 3) {
		case 0:
		case 1:
			len = (size_t)(op >> 2) * 8;
			if (len > size - i)
				len = size - i;
			if (op & 1)
				replay_from_local(z.r, data + i, len, z.now);
			else
				replay_from_agent(z.r, data + i, len, z.now);
			i += len;
			break;
		case 2:
			z.now += (uint64_t)(op >> 2) * 13;
			replay_tick(z.r, z.now);
			break;
		default:
			if (size - i < 12)
				i = size;
			else
				structured(&z, data + i);
			i += 12;
			break;
		}
		drain(&z);
		replay_stats(z.r, &st);
		if (st.mem_used > TOTAL)
			abort();
	}
	replay_reset_all(z.r);
	replay_stats(z.r, &st);
	if (st.mem_used || st.conns_active || st.conns_tracked)
		abort();
	replay_free(z.r);
	return 0;
}
