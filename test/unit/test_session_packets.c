/* Unit tests of what a client may inject as its pod: only packets of the session's own flows. */
#include "metrics.h"
#include "pkt.h"
#include "session_priv.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <string.h>

#define POD    "10.244.0.5"
#define OTHER  "10.244.0.6"
#define CLIENT "10.0.0.1"
#define SID    7

static struct session sess;
static uint8_t buf[512];

/* Stand-in for the BPF flow table: one stolen flow CLIENT:55555 -> POD:8080 and its stealer. */
static uint32_t stealer;
static int lookups;

static uint32_t fake_owner(const void *ctx, const struct bm_flow_key *k)
{
	struct bm_flow_key want = {.family = BM_AF_INET, .proto = IPPROTO_TCP};

	(void)ctx;
	lookups++;
	want.sport = htons(55555);
	want.dport = htons(8080);
	inet_pton(AF_INET, CLIENT, &want.saddr[0]);
	inet_pton(AF_INET, POD, &want.daddr[0]);
	return memcmp(k, &want, sizeof(want)) == 0 ? stealer : 0;
}

static enum inject_refusal check(size_t len)
{
	return session_packet_check(&sess, buf, len, fake_owner, NULL);
}

static void setup(void)
{
	memset(&sess, 0, sizeof(sess));
	sess.id = SID;
	sess.pod_ip.family = AF_INET;
	inet_pton(AF_INET, POD, &sess.pod_ip.u.v4);
	sess.range.lo = 40000;
	sess.range.hi = 40999;
	sess.range_held = true;
	sess.subs[0].port = 8080;
	sess.subs[0].mode = DATAPATH_STEAL;
	sess.subs[1].port = 9090;
	sess.subs[1].mode = DATAPATH_MIRROR;
	sess.nsubs = 2;
	stealer = SID;
	lookups = 0;
}

static uint32_t addr(const char *s)
{
	uint32_t a;

	inet_pton(AF_INET, s, &a);
	return a;
}

/* Writes a TCP packet SRC:SPORT -> DST:DPORT into OUT; returns its length. */
static size_t tcp_to(uint8_t *out, const char *src, uint16_t sport, const char *dst, uint16_t dport)
{
	struct pkt_tcp_spec t = {.sport = sport, .dport = dport, .flags = PKT_TCP_ACK};
	ssize_t n;

	t.saddr = addr(src);
	t.daddr = addr(dst);
	n = pkt_build_tcp(out, 128, &t, "hi", 2);
	ck_assert_int_gt(n, 0);
	return (size_t)n;
}

static size_t udp_to(uint8_t *out, const char *src, uint16_t sport, const char *dst, uint16_t dport)
{
	ssize_t n = pkt_build_udp(out, 128, addr(src), addr(dst), sport, dport, "q", 1);

	ck_assert_int_gt(n, 0);
	return (size_t)n;
}

/* A reply of the pod from SPORT to CLIENT:55555. */
static size_t tcp_from(const char *src, uint16_t sport)
{
	return tcp_to(buf, src, sport, CLIENT, 55555);
}

static size_t udp_from(const char *src, uint16_t sport)
{
	return udp_to(buf, src, sport, CLIENT, 53);
}

/* ICMP TYPE from the pod to DST quoting the first QUOTE bytes of ORIG. */
static size_t icmp(uint8_t type, const char *dst, const uint8_t *orig, size_t quote)
{
	size_t n = 20 + 8 + quote;

	memset(buf, 0, 28);
	buf[0] = 0x45;
	buf[2] = (uint8_t)(n >> 8);
	buf[3] = (uint8_t)n;
	buf[8] = 64;
	buf[9] = IPPROTO_ICMP;
	inet_pton(AF_INET, POD, buf + 12);
	inet_pton(AF_INET, dst, buf + 16);
	buf[20] = type;
	buf[21] = 3;
	memcpy(buf + 28, orig, quote);
	return n;
}

static void set_proto(uint8_t proto)
{
	buf[9] = proto;
}

static void set_frag(uint16_t off_and_flags)
{
	buf[6] = (uint8_t)(off_and_flags >> 8);
	buf[7] = (uint8_t)off_and_flags;
}

START_TEST(reserved_ports)
{
	ck_assert_int_eq(check(tcp_from(POD, 40000)), INJECT_OK);
	ck_assert_int_eq(check(tcp_from(POD, 40999)), INJECT_OK);
	ck_assert_int_eq(check(udp_from(POD, 40500)), INJECT_OK);
	ck_assert_int_eq(check(tcp_from(POD, 39999)), INJECT_PORT);
	ck_assert_int_eq(check(tcp_from(POD, 41000)), INJECT_PORT);
	ck_assert_int_eq(check(udp_from(POD, 41000)), INJECT_PORT);
	/* No range held (released, or never reserved): none of them. */
	sess.range_held = false;
	ck_assert_int_eq(check(tcp_from(POD, 40000)), INJECT_PORT);
	ck_assert_int_eq(lookups, 0);
}
END_TEST

START_TEST(stolen_flows_of_the_session_only)
{
	/* The flow the agent handed to this session. */
	ck_assert_int_eq(check(tcp_from(POD, 8080)), INJECT_OK);
	/* Claimed but not listening: the flow table still decides (Unsubscribe forgets the flows).
	 */
	sess.subs[0].active = false;
	ck_assert_int_eq(check(tcp_from(POD, 8080)), INJECT_OK);
	/* Another connection to the stolen port: not a flow the agent handed over. */
	ck_assert_int_eq(check(tcp_to(buf, POD, 8080, CLIENT, 55556)), INJECT_FLOW);
	ck_assert_int_eq(check(tcp_to(buf, POD, 8080, OTHER, 55555)), INJECT_FLOW);
	/* The flow is another session's, or no longer stolen. */
	stealer = SID + 1;
	ck_assert_int_eq(check(tcp_from(POD, 8080)), INJECT_FLOW);
	stealer = 0;
	ck_assert_int_eq(check(tcp_from(POD, 8080)), INJECT_FLOW);
	/* Stolen ports carry TCP only; mirrored and unclaimed ports are never the session's. */
	stealer = SID;
	ck_assert_int_eq(check(udp_from(POD, 8080)), INJECT_PORT);
	ck_assert_int_eq(check(tcp_from(POD, 9090)), INJECT_PORT);
	ck_assert_int_eq(check(tcp_from(POD, 7070)), INJECT_PORT);
	/* Without a flow table (no data plane) nothing stolen is owned. */
	ck_assert_int_eq(session_packet_check(&sess, buf, tcp_from(POD, 8080), NULL, NULL),
			 INJECT_FLOW);
}
END_TEST

START_TEST(source_address_of_the_pod_only)
{
	ck_assert_int_eq(check(tcp_from(OTHER, 40000)), INJECT_SOURCE);
	ck_assert_int_eq(check(tcp_from(OTHER, 8080)), INJECT_SOURCE);
	sess.pod_ip.family = AF_INET6;
	ck_assert_int_eq(check(tcp_from(POD, 40000)), INJECT_SOURCE);
}
END_TEST

START_TEST(malformed_headers)
{
	size_t n = tcp_from(POD, 40000);

	ck_assert_int_eq(check(19), INJECT_MALFORMED);
	/* Total length must be the whole packet: no trailing bytes, no truncation. */
	ck_assert_int_eq(check(n + 1), INJECT_MALFORMED);
	ck_assert_int_eq(check(n - 1), INJECT_MALFORMED);
	buf[0] = 0x65; /* version 6 */
	ck_assert_int_eq(check(n), INJECT_MALFORMED);
	buf[0] = 0x44; /* IHL below 20 */
	ck_assert_int_eq(check(n), INJECT_MALFORMED);
	/* A transport header needs at least its ports. */
	udp_from(POD, 40000);
	buf[2] = 0;
	buf[3] = 23;
	ck_assert_int_eq(check(23), INJECT_MALFORMED);
	buf[3] = 24;
	ck_assert_int_eq(check(24), INJECT_OK);
}
END_TEST

START_TEST(fragments_and_protocols)
{
	size_t n = tcp_from(POD, 40000);

	set_frag(0x2000);
	ck_assert_int_eq(check(n), INJECT_FRAGMENT);
	set_frag(0x0001);
	ck_assert_int_eq(check(n), INJECT_FRAGMENT);
	set_frag(0x4000); /* don't fragment: a whole datagram */
	ck_assert_int_eq(check(n), INJECT_OK);
	/* ICMP fragments too (large pings are not the session's to send). */
	n = udp_from(POD, 40000);
	set_proto(IPPROTO_ICMP);
	set_frag(0x2000);
	ck_assert_int_eq(check(n), INJECT_FRAGMENT);
	set_frag(0);
	set_proto(IPPROTO_GRE);
	ck_assert_int_eq(check(n), INJECT_PROTOCOL);
}
END_TEST

START_TEST(icmp_errors_about_own_flows)
{
	uint8_t orig[128];
	size_t on;

	/* Port unreachable about a reply to the twin's reserved port, back to its sender. */
	on = udp_to(orig, "10.96.0.10", 53, POD, 40500);
	ck_assert_int_eq(check(icmp(3, "10.96.0.10", orig, on)), INJECT_OK);
	ck_assert_int_eq(check(icmp(11, "10.96.0.10", orig, 28)), INJECT_OK);
	ck_assert_int_eq(check(icmp(12, "10.96.0.10", orig, 28)), INJECT_OK);
	/* Not an error (echo request/reply), or sent to someone else than the sender. */
	ck_assert_int_eq(check(icmp(8, "10.96.0.10", orig, on)), INJECT_ICMP);
	ck_assert_int_eq(check(icmp(0, "10.96.0.10", orig, on)), INJECT_ICMP);
	ck_assert_int_eq(check(icmp(3, "1.1.1.1", orig, on)), INJECT_ICMP);
	/* Quoting less than the transport's first 8 bytes. */
	ck_assert_int_eq(check(icmp(3, "10.96.0.10", orig, 27)), INJECT_ICMP);
	/* About a port outside the range, or a packet not to the pod. */
	on = udp_to(orig, "10.96.0.10", 53, POD, 41000);
	ck_assert_int_eq(check(icmp(3, "10.96.0.10", orig, on)), INJECT_ICMP);
	on = udp_to(orig, "10.96.0.10", 53, OTHER, 40500);
	ck_assert_int_eq(check(icmp(3, "10.96.0.10", orig, on)), INJECT_ICMP);
	/* A stolen flow: the session's own only. */
	on = tcp_to(orig, CLIENT, 55555, POD, 8080);
	ck_assert_int_eq(check(icmp(3, CLIENT, orig, on)), INJECT_OK);
	stealer = SID + 1;
	ck_assert_int_eq(check(icmp(3, CLIENT, orig, on)), INJECT_ICMP);
	/* An embedded fragment with an offset has no ports. */
	stealer = SID;
	orig[7] = 0x10;
	ck_assert_int_eq(check(icmp(3, CLIENT, orig, on)), INJECT_ICMP);
}
END_TEST

/* The return path: session_on_packets refuses and counts by reason, the metrics name them. */
START_TEST(refusals_counted_by_reason)
{
	static uint8_t pk[3][128];
	Bpfmirror__Packet p[3], *pp[3];
	Bpfmirror__PacketBatch b = BPFMIRROR__PACKET_BATCH__INIT;
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT;
	struct agent ag;
	static char out[16384];
	size_t lens[3];

	memset(&ag, 0, sizeof(ag));
	sess.ag = &ag;
	sess.state = S_ATTACHED;
	lens[0] = tcp_to(pk[0], POD, 40000, CLIENT, 80);   /* reserved: allowed */
	lens[1] = tcp_to(pk[1], POD, 8080, CLIENT, 55555); /* no data plane: not owned */
	lens[2] = tcp_to(pk[2], OTHER, 40000, CLIENT, 80); /* spoofed source */
	for (int i = 0; i < 3; i++) {
		bpfmirror__packet__init(&p[i]);
		p[i].data.data = pk[i];
		p[i].data.len = lens[i];
		pp[i] = &p[i];
	}
	b.packets = pp;
	b.n_packets = 3;
	f.body_case = BPFMIRROR__FRAME__BODY_PACKET_BATCH;
	f.packet_batch = &b;
	ck_assert_int_eq(session_on_packets(&sess, &f), 0);
	ck_assert_uint_eq(ag.ctr.packets_from_client, 3);
	ck_assert_uint_eq(ag.ctr.packets_rejected, 2);
	ck_assert_uint_eq(ag.ctr.packets_refused[INJECT_FLOW], 1);
	ck_assert_uint_eq(ag.ctr.packets_refused[INJECT_SOURCE], 1);
	ck_assert_uint_eq(ag.ctr.packets_refused[INJECT_PORT], 0);
	out[metrics_render(&ag, out, sizeof(out) - 1)] = '\0';
	ck_assert_ptr_nonnull(
	    strstr(out, "bpfmirror_client_packets_refused_total{reason=\"flow\"} 1\n"));
	ck_assert_ptr_nonnull(
	    strstr(out, "bpfmirror_client_packets_refused_total{reason=\"icmp\"} 0\n"));
}
END_TEST

static Suite *session_packets_suite(void)
{
	Suite *s = suite_create("session_packets");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, reserved_ports);
	tcase_add_test(tc, stolen_flows_of_the_session_only);
	tcase_add_test(tc, source_address_of_the_pod_only);
	tcase_add_test(tc, malformed_headers);
	tcase_add_test(tc, fragments_and_protocols);
	tcase_add_test(tc, icmp_errors_about_own_flows);
	tcase_add_test(tc, refusals_counted_by_reason);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(session_packets_suite());
}
