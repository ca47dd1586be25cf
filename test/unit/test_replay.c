/* Unit tests for the TCP replayer, against a small simulated local TCP receiver. */
#include "log.h"
#include "pkt.h"
#include "replay.h"
#include "replay_buf.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CLIENT_ISN 0xfffff000u /* wraps during the tests on purpose */
#define LOCAL_ISN  0x10000000u
#define QCAP	   4096
#define APP_CAP	   (2u << 20)

/*
 * The fake local stack: one listening port, one connection at a time, a receive buffer the app
 * drains on request, in-order acceptance only (like a receiver that drops out-of-order data),
 * RFC 5961 exact-RST checking with challenge ACKs, window scaling. What it writes back goes
 * into a queue that pump() feeds to replay_from_local().
 */
enum fstate { F_NONE, F_SYN_RCVD, F_EST, F_DEAD };

struct fake {
	bool listening;
	enum fstate st;
	uint32_t rcv_nxt; /* next client byte expected */
	uint32_t snd_nxt; /* local's next sequence number */
	uint32_t snd_una; /* highest ACK the replayer sent us */
	uint32_t rcv_cap; /* receive buffer */
	uint8_t wscale;
	uint16_t mss;
	bool got_fin;
	bool got_rst;
	bool window_updates; /* send an ACK when the app reads */
	int drop_data;	     /* drop the next N data segments */
	int drop_syn;	     /* ignore the next N SYNs */
	bool blackhole;	     /* answer nothing at all */
	/* A full accept queue (Linux): new SYNs and the ACKs that would complete a handshake are
	 * dropped silently; with cookies, a segment whose sequence number is not the cookie's
	 * (ISN + 1) is answered with RST, as the listener does. */
	bool full;
	bool full_after_synack; /* the queue fills between our SYN and our handshake ACK */
	bool cookies;
	unsigned full_drops, cookie_rsts;
	uint8_t *app;
	size_t app_len;	 /* bytes delivered to the app */
	size_t app_read; /* bytes the app consumed */
	unsigned syns, rsts, data_segs, probes, challenge_acks;
	uint32_t peer_isn;
	struct pkt_tcp_opts syn_opts;
	uint8_t q[QCAP][1600];
	size_t qlen[QCAP];
	unsigned qh, qt;
};

static struct fake F;
static struct replay *R;
static uint64_t now;
static unsigned reports[REPLAY_EV_COUNT];
static uint32_t caddr, paddr;
static uint8_t payload[APP_CAP];

static uint32_t fwin(void)
{
	size_t unread = F.app_len - F.app_read;

	return unread >= F.rcv_cap ? 0 : (uint32_t)(F.rcv_cap - unread);
}

/* Queues a local->client packet. */
static void fsend(uint8_t flags, uint32_t seq, const void *data, size_t len, bool syn_opts)
{
	struct pkt_tcp_opts o = {
	    .has_mss = true, .mss = F.mss, .has_wscale = true, .wscale = F.wscale};
	uint32_t w = fwin();
	struct pkt_tcp_spec s = {.saddr = paddr,
				 .daddr = caddr,
				 .sport = 8080,
				 .dport = 40000,
				 .seq = seq,
				 .ack = F.rcv_nxt,
				 .flags = flags,
				 .opts = NULL};
	ssize_t n;

	if (F.blackhole)
		return;
	if (syn_opts) {
		s.opts = &o;
		s.window = w > 65535 ? 65535 : (uint16_t)w;
	} else {
		w >>= F.wscale;
		s.window = w > 65535 ? 65535 : (uint16_t)w;
	}
	ck_assert_uint_lt(F.qt - F.qh, QCAP);
	n = pkt_build_tcp(F.q[F.qt % QCAP], sizeof(F.q[0]), &s, data, len);
	ck_assert_int_gt(n, 0);
	F.qlen[F.qt % QCAP] = (size_t)n;
	F.qt++;
}

static void fack(void)
{
	fsend(PKT_TCP_ACK, F.snd_nxt, NULL, 0, false);
}

static void fake_segment(const struct pkt_tcp *t)
{
	uint32_t w = fwin();

	if (t->flags & PKT_TCP_RST) {
		F.rsts++;
		if (F.st == F_NONE || F.st == F_DEAD)
			return;
		if (t->seq == F.rcv_nxt) {
			F.st = F_DEAD;
			F.got_rst = true;
		} else if (pkt_seq_le(F.rcv_nxt, t->seq) && pkt_seq_lt(t->seq, F.rcv_nxt + w + 1)) {
			F.challenge_acks++;
			fack();
		}
		return;
	}
	if (t->flags & PKT_TCP_SYN) {
		F.syns++;
		if (F.drop_syn > 0) {
			F.drop_syn--;
			return;
		}
		if (F.full && F.st != F_SYN_RCVD) {
			F.full_drops++;
			return;
		}
		if (!F.listening) {
			F.rcv_nxt = t->seq + 1;
			fsend(PKT_TCP_RST | PKT_TCP_ACK, 0, NULL, 0, false);
			return;
		}
		if (F.st == F_SYN_RCVD && t->seq + 1 == F.rcv_nxt) {
			fsend(PKT_TCP_SYN | PKT_TCP_ACK, LOCAL_ISN, NULL, 0, true);
			return;
		}
		if (F.st == F_EST)
			return;
		F.st = F_SYN_RCVD;
		F.peer_isn = t->seq;
		F.syn_opts = t->opts;
		F.rcv_nxt = t->seq + 1;
		F.snd_nxt = LOCAL_ISN + 1;
		F.snd_una = LOCAL_ISN + 1;
		F.app_len = F.app_read = 0;
		F.got_fin = F.got_rst = false;
		fsend(PKT_TCP_SYN | PKT_TCP_ACK, LOCAL_ISN, NULL, 0, true);
		if (F.full_after_synack)
			F.full = true;
		return;
	}
	if (F.st == F_NONE || F.st == F_DEAD)
		return;
	ck_assert(t->flags & PKT_TCP_ACK);
	/* Every segment acknowledges exactly what we sent, never more. */
	ck_assert(pkt_seq_le(t->ack, F.snd_nxt));
	if (pkt_seq_lt(F.snd_una, t->ack))
		F.snd_una = t->ack;
	if (F.st == F_SYN_RCVD) {
		if (t->ack != LOCAL_ISN + 1)
			return;
		if (F.full && F.cookies && t->seq != F.peer_isn + 1) {
			F.cookie_rsts++;
			F.st = F_NONE;
			fsend(PKT_TCP_RST, t->ack, NULL, 0, false);
			return;
		}
		if (F.full) {
			F.full_drops++;
			return;
		}
		F.st = F_EST;
	}
	if (t->payload_len) {
		F.data_segs++;
		if (F.drop_data > 0) {
			F.drop_data--;
			return;
		}
		if (t->seq != F.rcv_nxt || t->payload_len > w) {
			if (t->payload_len == 1 && w == 0)
				F.probes++;
			fack(); /* duplicate ACK / out of window */
			return;
		}
		ck_assert_uint_le(F.app_len + t->payload_len, APP_CAP);
		memcpy(F.app + F.app_len, t->payload, t->payload_len);
		F.app_len += t->payload_len;
		F.rcv_nxt += (uint32_t)t->payload_len;
	}
	if ((t->flags & PKT_TCP_FIN) && t->seq + t->payload_len == F.rcv_nxt && !F.got_fin) {
		F.got_fin = true;
		F.rcv_nxt++;
	}
	if (t->payload_len || (t->flags & PKT_TCP_FIN))
		fack();
}

static int emit_cb(void *ctx, const void *pkt, size_t len)
{
	struct pkt_ipv4 ip;
	struct pkt_tcp t;

	(void)ctx;
	ck_assert_int_eq(pkt_parse_ipv4(pkt, len, &ip), 0);
	ck_assert(pkt_ipv4_csum_ok(&ip));
	ck_assert(pkt_l4_csum_ok(&ip));
	ck_assert_uint_le(len, 1500);
	ck_assert_int_eq(pkt_parse_tcp(&ip, &t), 0);
	/* The local side must see the original client and pod addresses. */
	ck_assert_uint_eq(ip.saddr, caddr);
	ck_assert_uint_eq(ip.daddr, paddr);
	ck_assert_uint_eq(t.sport, 40000);
	ck_assert_uint_eq(t.dport, 8080);
	if (F.blackhole)
		return 0;
	fake_segment(&t);
	return 0;
}

static void report_cb(void *ctx, enum replay_event ev, const struct replay_tuple *t, uint64_t b)
{
	(void)ctx;
	(void)t;
	(void)b;
	ck_assert_uint_lt((unsigned)ev, REPLAY_EV_COUNT);
	reports[ev]++;
}

static void pump(void)
{
	while (F.qh != F.qt) {
		unsigned i = F.qh++ % QCAP;

		ck_assert_int_eq(replay_from_local(R, F.q[i], F.qlen[i], now), 0);
	}
}

/* A copy of a client->pod packet: OFF is relative to the client's ISN + 1. */
static void client(uint8_t flags, uint32_t off, const void *data, size_t len)
{
	uint8_t buf[4096];
	struct pkt_tcp_spec s = {.saddr = caddr,
				 .daddr = paddr,
				 .sport = 40000,
				 .dport = 8080,
				 .seq = CLIENT_ISN + 1 + off,
				 .ack = 12345,
				 .flags = flags,
				 .window = 500};
	struct pkt_tcp_opts o = {.has_mss = true, .mss = 1460, .sack_ok = true, .has_ts = false};
	ssize_t n;

	if (flags & PKT_TCP_SYN) {
		s.seq = CLIENT_ISN + off;
		s.ack = 0;
		s.opts = &o;
	} else {
		s.flags |= PKT_TCP_ACK;
	}
	n = pkt_build_tcp(buf, sizeof(buf), &s, data, len);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(replay_from_agent(R, buf, (size_t)n, now), 0);
	pump();
}

static void data(uint32_t off, size_t len)
{
	client(0, off, payload + off, len);
}

static void tick(uint64_t ms)
{
	now += ms;
	replay_tick(R, now);
	pump();
}

static void app_read(size_t n)
{
	bool was_zero = fwin() == 0;

	if (n > F.app_len - F.app_read)
		n = F.app_len - F.app_read;
	F.app_read += n;
	if (F.window_updates && F.st == F_EST && (was_zero || n))
		fack();
	pump();
}

/* The local app writes a response: absorbed by the replayer, which must ack it. */
static void app_write(size_t n)
{
	fsend(PKT_TCP_ACK | PKT_TCP_PSH, F.snd_nxt, payload, n, false);
	F.snd_nxt += (uint32_t)n;
	pump();
}

static void app_close(void)
{
	fsend(PKT_TCP_ACK | PKT_TCP_FIN, F.snd_nxt, NULL, 0, false);
	F.snd_nxt++;
	pump();
}

static struct replay_stats stats(void)
{
	struct replay_stats st;

	replay_stats(R, &st);
	return st;
}

static void setup_with(size_t mem_conn, size_t mem_total)
{
	struct replay_opts o = {.mem_conn = mem_conn,
				.mem_total = mem_total,
				.emit = emit_cb,
				.report = report_cb,
				.gap_timeout_ms = 1000,
				.give_up_ms = 30000, /* below the idle timeout */
				.idle_timeout_ms = 60000,
				.linger_ms = 5000};

	log_set_level(LOG_LVL_ERROR);
	free(F.app);
	memset(&F, 0, sizeof(F));
	F.app = malloc(APP_CAP);
	ck_assert_ptr_nonnull(F.app);
	F.listening = true;
	F.rcv_cap = 64 * 1024;
	F.wscale = 2;
	F.mss = 1460;
	F.window_updates = true;
	memset(reports, 0, sizeof(reports));
	now = 1000;
	caddr = htonl(0x0a010007);
	paddr = htonl(0x0af40005);
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + (i >> 9));
	R = replay_new(&o);
	ck_assert_ptr_nonnull(R);
}

static void setup(void)
{
	setup_with(0, 0);
}

static void teardown(void)
{
	replay_free(R);
	R = NULL;
	free(F.app);
	F.app = NULL;
}

static void handshake(void)
{
	client(PKT_TCP_SYN, 0, NULL, 0);
	ck_assert_int_eq(F.st, F_EST);
}

static void assert_app_has(size_t len)
{
	ck_assert_uint_eq(F.app_len, len);
	ck_assert_mem_eq(F.app, payload, len);
}

START_TEST(handshake_plays_client)
{
	struct replay_stats st;

	handshake();
	ck_assert_uint_eq(F.peer_isn, CLIENT_ISN);
	ck_assert(F.syn_opts.has_mss && F.syn_opts.mss == 1460);
	ck_assert(F.syn_opts.has_wscale);
	ck_assert(!F.syn_opts.sack_ok && !F.syn_opts.has_ts);
	ck_assert_uint_eq(F.snd_una, LOCAL_ISN + 1);
	st = stats();
	ck_assert_uint_eq(st.conns_opened, 1);
	ck_assert_uint_eq(st.conns_active, 1);
	/* A copy of the SYN arriving again after the handshake changes nothing. */
	client(PKT_TCP_SYN, 0, NULL, 0);
	ck_assert_uint_eq(F.syns, 1);
}
END_TEST

START_TEST(in_order_data)
{
	handshake();
	data(0, 100);
	data(100, 1400);
	data(1500, 3000); /* larger than the MSS: re-cut */
	assert_app_has(4500);
	ck_assert_uint_eq(stats().bytes_delivered, 4500);
	ck_assert_uint_eq(stats().mem_used, 0);
}
END_TEST

START_TEST(copy_gap_then_fill)
{
	handshake();
	data(0, 1000);
	data(2000, 1000);
	assert_app_has(1000);
	tick(500);
	data(1000, 1000);
	assert_app_has(3000);
	tick(2000);
	ck_assert_uint_eq(stats().resets_gap, 0);
}
END_TEST

START_TEST(reordering_and_duplicates)
{
	handshake();
	data(2000, 1000);
	data(1000, 1000);
	data(1000, 1000);
	data(500, 2000); /* overlaps both sides */
	data(0, 1000);
	data(0, 3000);
	assert_app_has(3000);
	ck_assert_uint_eq(stats().bytes_received, 3000);
	ck_assert_uint_gt(stats().bytes_duplicate, 0);
}
END_TEST

START_TEST(data_before_synack)
{
	F.drop_syn = 1;
	client(PKT_TCP_SYN, 0, NULL, 0);
	ck_assert_int_eq(F.st, F_NONE);
	data(0, 500);
	data(500, 500);
	/* The retransmission timer resends the SYN; the held data follows the handshake. */
	tick(300);
	ck_assert_int_eq(F.st, F_EST);
	assert_app_has(1000);
}
END_TEST

START_TEST(syn_retransmit_from_client)
{
	F.drop_syn = 1;
	client(PKT_TCP_SYN, 0, NULL, 0);
	client(PKT_TCP_SYN, 0, NULL, 0);
	ck_assert_int_eq(F.st, F_EST);
	ck_assert_uint_eq(F.syns, 2);
	ck_assert_uint_eq(stats().conns_opened, 1);
}
END_TEST

START_TEST(new_isn_replaces_connection)
{
	handshake();
	data(0, 100);
	client(PKT_TCP_SYN, 5000, NULL, 0); /* same ports, new ISN */
	ck_assert_uint_eq(F.rsts, 1);
	ck_assert_int_eq(F.st, F_EST);
	ck_assert_uint_eq(F.peer_isn, CLIENT_ISN + 5000);
	ck_assert_uint_eq(stats().conns_opened, 2);
}
END_TEST

START_TEST(window_full_then_opened)
{
	F.rcv_cap = 8000;
	handshake();
	for (uint32_t off = 0; off < 40000; off += 1000)
		data(off, 1000);
	ck_assert_uint_eq(F.app_len, 8000);
	ck_assert_uint_gt(stats().mem_used, 30000);
	/* The app reads; the window update lets more through, until everything is there. */
	for (int i = 0; i < 10 && F.app_len < 40000; i++)
		app_read(8000);
	assert_app_has(40000);
	ck_assert_uint_eq(stats().bytes_delivered, 40000);
	ck_assert_uint_eq(stats().mem_used, 0);
	ck_assert_uint_eq(stats().resets_budget, 0);
}
END_TEST

START_TEST(zero_window_probe_finds_lost_update)
{
	F.rcv_cap = 4000;
	F.window_updates = false; /* the window update gets lost */
	handshake();
	for (uint32_t off = 0; off < 12000; off += 1000)
		data(off, 1000);
	ck_assert_uint_eq(F.app_len, 4000);
	/* Stopped at a breakpoint for a minute: probes only, no reset. */
	for (int i = 0; i < 30; i++)
		tick(2000);
	ck_assert_uint_gt(F.probes, 3);
	ck_assert_uint_eq(stats().resets_timeout, 0);
	app_read(4000);
	for (int i = 0; i < 20 && F.app_len < 12000; i++) {
		tick(3000);
		app_read(4000);
	}
	assert_app_has(12000);
}
END_TEST

START_TEST(budget_exceeded_is_counted)
{
	struct replay_stats st;

	teardown();
	setup_with(16 * 1024, 0);
	F.rcv_cap = 2000;
	handshake();
	for (uint32_t off = 0; off < 40000; off += 1000)
		data(off, 1000);
	st = stats();
	ck_assert_uint_eq(st.resets_budget, 1);
	ck_assert_uint_gt(st.bytes_over_budget, 40000 - 2000 - 16 * 1024);
	ck_assert_uint_eq(reports[REPLAY_EV_OVER_BUDGET], 1);
	ck_assert_uint_eq(st.mem_used, 0);
	ck_assert_uint_eq(st.conns_active, 0);
	/* The local side was reset rather than fed a stream with a hole. */
	ck_assert(F.got_rst);
	assert_app_has(2000);
}
END_TEST

START_TEST(total_budget_shared)
{
	teardown();
	setup_with(0, 8 * 1024);
	F.rcv_cap = 1000;
	handshake();
	for (uint32_t off = 0; off < 20000; off += 1000)
		data(off, 1000);
	ck_assert_uint_eq(stats().resets_budget, 1);
	ck_assert(F.got_rst);
}
END_TEST

START_TEST(local_drop_retransmitted)
{
	handshake();
	data(0, 1000);
	F.drop_data = 1;
	data(1000, 1000);
	data(2000, 1000);
	data(3000, 1000);
	data(4000, 1000);
	/* Dup ACKs triggered a go-back-N resend. */
	assert_app_has(5000);
	F.drop_data = 1;
	data(5000, 1000); /* last segment lost: only the timer helps */
	assert_app_has(5000);
	tick(250);
	assert_app_has(6000);
	ck_assert_uint_gt(stats().retransmits, 1);
}
END_TEST

START_TEST(local_stops_answering)
{
	handshake();
	F.blackhole = true;
	data(0, 1000);
	for (int i = 0; i < 40; i++)
		tick(3000);
	ck_assert_uint_eq(stats().resets_timeout, 1);
	ck_assert_uint_eq(reports[REPLAY_EV_LOCAL_TIMEOUT], 1);
	ck_assert_uint_eq(stats().conns_active, 0);
}
END_TEST

/* Lets MS pass on the replayer's clock in 100 ms ticks. */
static void wait_ms(uint64_t ms)
{
	for (uint64_t t = 0; t < ms; t += 100)
		tick(100);
}

/* The local stack's request timer sends its SYN-ACK again. */
static void synack_again(void)
{
	fsend(PKT_TCP_SYN | PKT_TCP_ACK, LOCAL_ISN, NULL, 0, true);
	pump();
}

/* The app accepts, reads, answers and closes: every byte got there, the FINs complete. */
static void assert_delivered(size_t len)
{
	assert_app_has(len);
	ck_assert(F.got_fin);
	app_close();
	ck_assert_uint_eq(stats().conns_delivered, 1);
	ck_assert_uint_eq(stats().conns_closed, 1);
	ck_assert_uint_eq(stats().mem_used, 0);
}

START_TEST(syn_dropped_by_full_accept_queue)
{
	F.full = true;
	client(PKT_TCP_SYN, 0, NULL, 0);
	data(0, 300);
	client(PKT_TCP_FIN, 300, NULL, 0);
	wait_ms(20000); /* a local app 20 s behind */
	ck_assert_int_eq(F.st, F_NONE);
	/* Backoff stops at 1 s while the local stack has not taken the connection. */
	ck_assert_uint_ge(F.full_drops, 18);
	ck_assert_uint_eq(stats().conns_syn_timeout, 0);
	F.full = false;
	wait_ms(1000);
	ck_assert_int_eq(F.st, F_EST);
	assert_delivered(300);
}
END_TEST

START_TEST(syn_never_answered_is_given_up)
{
	F.full = true;
	client(PKT_TCP_SYN, 0, NULL, 0);
	data(0, 100);
	wait_ms(29000);
	ck_assert_uint_eq(stats().conns_syn_timeout, 0);
	wait_ms(2000); /* give_up_ms is 30 s here */
	ck_assert_uint_eq(stats().conns_syn_timeout, 1);
	ck_assert_uint_eq(reports[REPLAY_EV_SYN_TIMEOUT], 1);
	ck_assert_uint_eq(stats().resets_timeout, 0);
	ck_assert_uint_eq(stats().conns_active, 0);
	ck_assert_uint_eq(stats().mem_used, 0);
	ck_assert_uint_eq(stats().conns_delivered, 0);
}
END_TEST

START_TEST(final_ack_dropped_synack_repeated)
{
	F.full_after_synack = true;
	client(PKT_TCP_SYN, 0, NULL, 0);
	data(0, 300);
	client(PKT_TCP_FIN, 300, NULL, 0);
	ck_assert_int_eq(F.st, F_SYN_RCVD);
	/* Linux repeats its SYN-ACK after 1, 2, 4, 8 s; each one is re-acked. */
	for (unsigned s = 1; s <= 8; s *= 2) {
		wait_ms(s * 1000);
		synack_again();
	}
	ck_assert_uint_eq(F.app_len, 0);
	ck_assert_uint_gt(F.full_drops, 8);
	/* A slot frees up: the next SYN-ACK is answered with the ACK and the data at once. */
	F.full = false;
	synack_again();
	ck_assert_int_eq(F.st, F_EST);
	assert_app_has(300);
	wait_ms(100);
	assert_delivered(300);
	ck_assert_uint_eq(stats().resets_timeout, 0);
}
END_TEST

START_TEST(final_ack_dropped_syn_cookie)
{
	F.full_after_synack = true;
	F.cookies = true; /* no request kept: no SYN-ACK repeats, only our retransmissions */
	client(PKT_TCP_SYN, 0, NULL, 0);
	data(0, 3000); /* three segments */
	client(PKT_TCP_FIN, 3000, NULL, 0);
	wait_ms(25000);
	/* Only the first segment (ISN + 1, the cookie's) went: the rest would draw an RST. */
	ck_assert_uint_eq(F.cookie_rsts, 0);
	ck_assert_uint_eq(stats().resets_local + stats().resets_timeout, 0);
	F.full = false;
	wait_ms(1000);
	ck_assert_int_eq(F.st, F_EST);
	assert_delivered(3000);
}
END_TEST

START_TEST(data_dropped_in_accept_queue)
{
	handshake(); /* the socket waits in the accept queue */
	F.drop_data = 1000;
	data(0, 500);
	client(PKT_TCP_FIN, 500, NULL, 0);
	wait_ms(25000);
	ck_assert_uint_eq(stats().resets_timeout, 0);
	ck_assert_uint_eq(stats().conns_active, 1);
	F.drop_data = 0;
	wait_ms(1000);
	assert_delivered(500);
}
END_TEST

START_TEST(fin_before_data_complete)
{
	handshake();
	data(0, 1000);
	client(PKT_TCP_FIN, 2000, payload + 2000, 500); /* FIN carries data, a hole before it */
	ck_assert(!F.got_fin);
	data(1000, 1000);
	assert_app_has(2500);
	ck_assert(F.got_fin);
	ck_assert_uint_eq(stats().conns_closed, 0);
	app_close();
	ck_assert_uint_eq(stats().conns_closed, 1);
	ck_assert_uint_eq(stats().conns_active, 0);
	ck_assert_uint_eq(F.snd_una, F.snd_nxt); /* the local FIN was acked */
	/* A late retransmitted local FIN is acked again; lingering ends after linger_ms. */
	fsend(PKT_TCP_ACK | PKT_TCP_FIN, F.snd_nxt - 1, NULL, 0, false);
	pump();
	ck_assert_uint_eq(stats().conns_tracked, 1);
	tick(6000);
	ck_assert_uint_eq(stats().conns_tracked, 0);
}
END_TEST

START_TEST(nothing_after_fin)
{
	handshake();
	client(PKT_TCP_FIN, 1000, NULL, 0);
	data(500, 1000); /* claims bytes past the FIN */
	data(0, 500);
	assert_app_has(1000);
	ck_assert(F.got_fin);
}
END_TEST

START_TEST(local_closes_first)
{
	handshake();
	data(0, 100);
	app_write(50);
	app_close();
	ck_assert_uint_eq(F.snd_una, F.snd_nxt);
	data(100, 100); /* half-closed: data still flows */
	assert_app_has(200);
	client(PKT_TCP_FIN, 200, NULL, 0);
	ck_assert(F.got_fin);
	ck_assert_uint_eq(stats().conns_closed, 1);
}
END_TEST

START_TEST(client_rst_mid_stream)
{
	handshake();
	data(0, 1000);
	data(2000, 1000);
	client(PKT_TCP_RST, 1000, NULL, 0);
	ck_assert(F.got_rst);
	ck_assert_uint_eq(stats().resets_client, 1);
	ck_assert_uint_eq(stats().mem_used, 0);
	data(1000, 1000);
	ck_assert_uint_eq(stats().bytes_discarded, 2000);
}
END_TEST

START_TEST(rst_needs_challenge_ack)
{
	F.drop_data = 1;
	handshake();
	data(0, 1000);
	data(1000, 1000); /* local dropped the first: its rcv_nxt is behind what we sent */
	client(PKT_TCP_RST, 2000, NULL, 0);
	ck_assert_uint_ge(F.challenge_acks, 1);
	ck_assert(F.got_rst);
}
END_TEST

START_TEST(local_rst_drops_state)
{
	handshake();
	data(0, 1000);
	fsend(PKT_TCP_RST, F.snd_nxt, NULL, 0, false);
	F.st = F_DEAD;
	pump();
	ck_assert_uint_eq(stats().resets_local, 1);
	ck_assert_uint_eq(stats().conns_active, 0);
	data(1000, 1000);
	ck_assert_uint_eq(stats().bytes_discarded, 1000);
	ck_assert_uint_eq(F.data_segs, 1);
}
END_TEST

START_TEST(nothing_listening)
{
	F.listening = false;
	client(PKT_TCP_SYN, 0, NULL, 0);
	ck_assert_uint_eq(stats().conns_refused, 1);
	ck_assert_uint_eq(reports[REPLAY_EV_REFUSED], 1);
	data(0, 100);
	ck_assert_uint_eq(stats().conns_midstream, 0);
}
END_TEST

START_TEST(midstream_ignored)
{
	data(0, 1000);
	data(1000, 1000);
	ck_assert_uint_eq(stats().conns_midstream, 1);
	ck_assert_uint_eq(stats().bytes_discarded, 2000);
	ck_assert_uint_eq(F.syns + F.data_segs, 0);
	ck_assert_uint_eq(reports[REPLAY_EV_MIDSTREAM], 1);
}
END_TEST

START_TEST(gap_never_filled)
{
	handshake();
	data(0, 1000);
	data(3000, 1000);
	tick(600);
	data(4000, 1000); /* more after the hole does not restart the clock */
	tick(600);
	ck_assert_uint_eq(stats().resets_gap, 1);
	ck_assert(F.got_rst);
	ck_assert_uint_eq(reports[REPLAY_EV_GAP_TIMEOUT], 1);
	assert_app_has(1000);
}
END_TEST

START_TEST(idle_cleanup)
{
	handshake();
	data(0, 10);
	tick(30000);
	ck_assert_uint_eq(stats().conns_active, 1);
	tick(31000);
	ck_assert_uint_eq(stats().resets_idle, 1);
	ck_assert(F.got_rst);
	tick(6000);
	ck_assert_uint_eq(stats().conns_tracked, 0);
}
END_TEST

START_TEST(keepalive_many_requests)
{
	uint32_t off = 0;

	handshake();
	for (int i = 0; i < 200; i++) {
		size_t len = 60 + (size_t)(i * 37) % 900;

		data(off, len / 2);
		data(off + (uint32_t)(len / 2), len - len / 2);
		off += (uint32_t)len;
		app_read(len);
		app_write(120 + (size_t)i % 50);
		ck_assert_uint_eq(F.snd_una, F.snd_nxt);
	}
	assert_app_has(off);
	client(PKT_TCP_FIN, off, NULL, 0);
	app_close();
	ck_assert_uint_eq(stats().conns_closed, 1);
}
END_TEST

START_TEST(large_body_many_segments)
{
	const uint32_t total = 1500000, seg = 1448;
	uint32_t off;

	F.rcv_cap = 256 * 1024;
	handshake();
	/* Pairs swapped, every 50th copied twice, the app reads in big gulps. */
	for (off = 0; off < total; off += 2 * seg) {
		uint32_t a = off, b = off + seg;
		uint32_t alen = total - a < seg ? total - a : seg;

		if (b < total)
			data(b, total - b < seg ? total - b : seg);
		data(a, alen);
		if ((off / seg) % 50 == 0)
			data(a, alen);
		if (F.app_len - F.app_read >= 128 * 1024)
			app_read(128 * 1024);
	}
	for (int i = 0; i < 100 && F.app_read < total; i++)
		app_read(256 * 1024);
	assert_app_has(total);
	ck_assert_uint_eq(stats().resets_budget, 0);
	ck_assert_uint_eq(stats().mem_used, 0);
}
END_TEST

START_TEST(garbage_is_refused)
{
	uint8_t junk[40] = {0x45, 0};

	ck_assert_int_eq(replay_from_agent(R, junk, sizeof(junk), now), -EINVAL);
	ck_assert_int_eq(replay_from_local(R, junk, 3, now), -EINVAL);
	ck_assert_uint_eq(stats().pkts_invalid, 2);
	/* A local packet of an unknown flow is left to the caller. */
	fsend(PKT_TCP_ACK, 1, NULL, 0, false);
	ck_assert_int_eq(replay_from_local(R, F.q[0], F.qlen[0], now), -ENOENT);
}
END_TEST

static int emit_nothing(void *ctx, const void *pkt, size_t len)
{
	(void)ctx;
	(void)pkt;
	(void)len;
	return -EAGAIN;
}

START_TEST(table_full)
{
	struct replay_opts o = {.max_conns = 1, .emit = emit_nothing, .report = report_cb};
	struct replay *r2 = replay_new(&o);
	uint8_t buf[64];
	struct pkt_tcp_spec s = {
	    .saddr = caddr, .daddr = paddr, .sport = 1, .dport = 8080, .flags = PKT_TCP_SYN};
	ssize_t n;

	ck_assert_ptr_nonnull(r2);
	F.blackhole = true;
	n = pkt_build_tcp(buf, sizeof(buf), &s, NULL, 0);
	ck_assert_int_eq(replay_from_agent(r2, buf, (size_t)n, now), 0);
	s.sport = 2;
	n = pkt_build_tcp(buf, sizeof(buf), &s, NULL, 0);
	ck_assert_int_eq(replay_from_agent(r2, buf, (size_t)n, now), 0);
	ck_assert_uint_eq(reports[REPLAY_EV_TABLE_FULL], 1);
	ck_assert_uint_eq(stats().emit_errors, 0);
	replay_free(r2);
	ck_assert_ptr_null(replay_new(&(struct replay_opts){0}));
}
END_TEST

START_TEST(buf_insert_release)
{
	struct replay_buf b;
	uint8_t out[64];

	replay_buf_init(&b, 100);
	ck_assert_int_eq(replay_buf_insert(&b, 110, "klmno", 5, 1000), 5);
	ck_assert_uint_eq(b.contig_end, 100);
	ck_assert(replay_buf_has_gap(&b));
	ck_assert_int_eq(replay_buf_insert(&b, 95, "_____abcdefghijk", 16, 1000), 10);
	ck_assert_uint_eq(b.contig_end, 115);
	ck_assert(!replay_buf_has_gap(&b));
	ck_assert_uint_eq(replay_buf_copy(&b, 100, out, 64), 15);
	ck_assert_mem_eq(out, "abcdefghijklmno", 15);
	ck_assert_int_eq(replay_buf_insert(&b, 100, "abc", 3, 1000), 0);
	ck_assert_int_eq(replay_buf_insert(&b, 200, "x", 1, 0), -ENOBUFS);
	ck_assert_int_eq(replay_buf_insert(&b, 100 + (1u << 30), "x", 1, 1000), -ERANGE);
	replay_buf_release(&b, 104);
	ck_assert_uint_eq(b.bytes, 11);
	ck_assert_uint_eq(replay_buf_copy(&b, 104, out, 3), 3);
	ck_assert_mem_eq(out, "efg", 3);
	ck_assert_uint_eq(replay_buf_copy(&b, 103, out, 3), 0);
	replay_buf_release(&b, 500); /* clamped to what is held */
	ck_assert_uint_eq(b.base, 115);
	ck_assert_uint_eq(b.mem, 0);
	ck_assert_int_eq(replay_buf_insert(&b, 115, "p", 1, 1000), 1);
	ck_assert_uint_eq(b.contig_end, 116);
	replay_buf_clear(&b);
	ck_assert_uint_eq(b.mem, 0);
}
END_TEST

static Suite *replay_suite(void)
{
	Suite *s = suite_create("replay");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, handshake_plays_client);
	tcase_add_test(tc, in_order_data);
	tcase_add_test(tc, copy_gap_then_fill);
	tcase_add_test(tc, reordering_and_duplicates);
	tcase_add_test(tc, data_before_synack);
	tcase_add_test(tc, syn_retransmit_from_client);
	tcase_add_test(tc, new_isn_replaces_connection);
	tcase_add_test(tc, window_full_then_opened);
	tcase_add_test(tc, zero_window_probe_finds_lost_update);
	tcase_add_test(tc, budget_exceeded_is_counted);
	tcase_add_test(tc, total_budget_shared);
	tcase_add_test(tc, local_drop_retransmitted);
	tcase_add_test(tc, local_stops_answering);
	tcase_add_test(tc, syn_dropped_by_full_accept_queue);
	tcase_add_test(tc, syn_never_answered_is_given_up);
	tcase_add_test(tc, final_ack_dropped_synack_repeated);
	tcase_add_test(tc, final_ack_dropped_syn_cookie);
	tcase_add_test(tc, data_dropped_in_accept_queue);
	tcase_add_test(tc, fin_before_data_complete);
	tcase_add_test(tc, nothing_after_fin);
	tcase_add_test(tc, local_closes_first);
	tcase_add_test(tc, client_rst_mid_stream);
	tcase_add_test(tc, rst_needs_challenge_ack);
	tcase_add_test(tc, local_rst_drops_state);
	tcase_add_test(tc, nothing_listening);
	tcase_add_test(tc, midstream_ignored);
	tcase_add_test(tc, gap_never_filled);
	tcase_add_test(tc, idle_cleanup);
	tcase_add_test(tc, keepalive_many_requests);
	tcase_add_test(tc, large_body_many_segments);
	tcase_add_test(tc, garbage_is_refused);
	tcase_add_test(tc, table_full);
	tcase_add_test(tc, buf_insert_release);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(replay_suite)
