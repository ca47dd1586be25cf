/* BPF_PROG_RUN tests of the tc programs: every verdict, map contents, ring-buffer records, stats.
 */
#include "bpftest.h"

#define POD	"10.0.0.2"
#define CLIENT	"10.0.0.1"
#define NODE	"10.0.0.254"
#define POD6	"fd00::2"
#define CLIENT6 "fd00::1"

struct rec {
	struct bm_pkt_hdr hdr;
	uint8_t data[256];
};

static struct rec recs[16];
static int nrecs;

static void setup(void)
{
	struct datapath_opts o = bpftest_opts(true);

	o.mirror_batch_bytes = 0; /* batched_wakeup_still_delivers covers the default */
	dp = bpftest_open(&o);
	nrecs = 0;
	ck_assert_int_eq(datapath_stats(dp, before), 0);
}

static void teardown(void)
{
	datapath_close(dp);
	dp = NULL;
}

static int collect(void *ctx, const struct datapath_pkt *pkt)
{
	(void)ctx;
	if (nrecs < (int)(sizeof(recs) / sizeof(recs[0]))) {
		recs[nrecs].hdr = *pkt->hdr;
		memcpy(recs[nrecs].data, pkt->data,
		       pkt->len < sizeof(recs[0].data) ? pkt->len : sizeof(recs[0].data));
	}
	nrecs++;
	return 0;
}

/* Runs the program of dir on one packet (a copy of it into out if given); returns its verdict. */
static int run(enum bm_dir dir, const struct pg_flow *f, uint8_t flags, size_t payload,
	       uint8_t *out, size_t *outlen)
{
	static uint8_t buf[2048];
	size_t len = pg_build(buf, f, flags, payload);

	if (out) {
		memcpy(out, buf, len);
		*outlen = len;
	}
	return bpftest_prog_run(dp, dir, buf, len, NULL, 0);
}

static int run_raw(enum bm_dir dir, const uint8_t *buf, size_t len)
{
	return bpftest_prog_run(dp, dir, buf, len, NULL, 0);
}

static int drain(void)
{
	int n = datapath_poll(dp, collect, NULL);

	ck_assert_int_ge(n, 0);
	return n;
}

static const struct pg_flow c2p = {AF_INET, CLIENT, POD, 40000, 80, IPPROTO_TCP};
static const struct pg_flow p2c = {AF_INET, POD, CLIENT, 80, 40000, IPPROTO_TCP};

START_TEST(mirror_syn_creates_flow_and_copies)
{
	struct datapath_ip pod = bpftest_ip(POD);
	struct bm_flow_key k;
	struct bm_flow f;
	uint8_t pkt[2048];
	size_t len;

	ck_assert_int_eq(datapath_subscribe(dp, &pod, 80, DATAPATH_MIRROR, 7), 0);
	ck_assert_int_eq(run(BM_DIR_TO_POD, &c2p, PG_SYN, 0, pkt, &len), ACT_NEXT);
	bpftest_flow_key(&c2p, &k);
	ck_assert_int_eq(datapath_flow_lookup(dp, &k, &f), 0);
	ck_assert_int_eq(f.verdict, BM_V_MIRROR);
	ck_assert_uint_eq(f.sessions[0], 7);
	ck_assert_int_eq(drain(), 1);
	ck_assert_uint_eq(recs[0].hdr.reason, BM_R_MIRRORED);
	ck_assert_uint_eq(recs[0].hdr.dir, BM_DIR_TO_POD);
	ck_assert_uint_eq(recs[0].hdr.sessions[0], 7);
	ck_assert_uint_eq(recs[0].hdr.sessions[1], 0);
	ck_assert_uint_eq(recs[0].hdr.cap_len, 40);
	ck_assert_uint_eq(recs[0].hdr.pkt_len, 40);
	ck_assert_uint_eq(recs[0].hdr.family, BM_AF_INET);
	ck_assert_int_eq(memcmp(recs[0].data, pkt + 14, 40), 0);

	/* A segment with payload is copied whole. */
	ck_assert_int_eq(run(BM_DIR_TO_POD, &c2p, PG_ACK | PG_PSH, 100, pkt, &len), ACT_NEXT);
	ck_assert_int_eq(drain(), 1);
	ck_assert_uint_eq(recs[1].hdr.cap_len, 140);
	ck_assert_int_eq(memcmp(recs[1].data, pkt + 14, 140), 0);
	/* FIN copied, pure ACK not. */
	ck_assert_int_eq(run(BM_DIR_TO_POD, &c2p, PG_ACK, 0, NULL, NULL), ACT_NEXT);
	ck_assert_int_eq(drain(), 0);
	ck_assert_int_eq(run(BM_DIR_TO_POD, &c2p, PG_FIN | PG_ACK, 0, NULL, NULL), ACT_NEXT);
	ck_assert_int_eq(drain(), 1);
	ck_assert_uint_eq(delta(BM_R_MIRRORED), 3);
	ck_assert_uint_eq(delta(BM_R_MIRROR_ACK), 1);
	/* The pod's replies pass untouched. */
	ck_assert_int_eq(run(BM_DIR_FROM_POD, &p2c, PG_ACK, 10, NULL, NULL), ACT_NEXT);
	ck_assert_int_eq(drain(), 0);
	ck_assert_int_eq(datapath_flow_lookup(dp, &k, &f), 0);
	ck_assert_uint_eq(f.packets, 4);
}
END_TEST

START_TEST(mirror_several_sessions)
{
	struct datapath_ip pod = bpftest_ip(POD);

	for (uint32_t s = 1; s <= BM_MAX_SESSIONS; s++)
		ck_assert_int_eq(datapath_subscribe(dp, &pod, 80, DATAPATH_MIRROR, s), 0);
	ck_assert_int_eq(datapath_subscribe(dp, &pod, 80, DATAPATH_MIRROR, 99), -ENOSPC);
	ck_assert_int_eq(datapath_subscribe(dp, &pod, 80, DATAPATH_MIRROR, 2), 0);
	ck_assert_int_eq(run(BM_DIR_TO_POD, &c2p, PG_SYN, 0, NULL, NULL), ACT_NEXT);
	ck_assert_int_eq(drain(), 1);
	for (int i = 0; i < BM_MAX_SESSIONS; i++)
		ck_assert_uint_ne(recs[0].hdr.sessions[i], 0);
	/* Session 2 leaves: the flow keeps the others. */
	ck_assert_int_eq(datapath_unsubscribe(dp, &pod, 80, 2), 0);
	ck_assert_int_eq(run(BM_DIR_TO_POD, &c2p, PG_ACK, 5, NULL, NULL), ACT_NEXT);
	ck_assert_int_eq(drain(), 1);
	ck_assert_uint_eq(recs[1].hdr.sessions[0], 1);
	ck_assert_uint_eq(recs[1].hdr.sessions[1], 3);
	ck_assert_uint_eq(recs[1].hdr.sessions[2], 4);
	ck_assert_uint_eq(recs[1].hdr.sessions[3], 0);
}
END_TEST

START_TEST(preexisting_flow_passes)
{
	struct datapath_ip pod = bpftest_ip(POD);

	ck_assert_int_eq(datapath_subscribe(dp, &pod, 80, DATAPATH_MIRROR, 7), 0);
	ck_assert_int_eq(datapath_subscribe(dp, &pod, 81, DATAPATH_STEAL, 8), 0);
	ck_assert_int_eq(run(BM_DIR_TO_POD, &c2p, PG_ACK | PG_PSH, 50, NULL, NULL), ACT_NEXT);
	{
		struct pg_flow f81 = c2p;

		f81.dport = 81;
		ck_assert_int_eq(run(BM_DIR_TO_POD, &f81, PG_ACK, 50, NULL, NULL), ACT_NEXT);
	}
	ck_assert_int_eq(drain(), 0);
	ck_assert_int_eq(datapath_flow_count(dp), 0);
	ck_assert_uint_eq(delta(BM_R_PASSED), 2);
	/* A SYN/ACK is not a client SYN: no flow either. */
	ck_assert_int_eq(run(BM_DIR_TO_POD, &c2p, PG_SYN | PG_ACK, 0, NULL, NULL), ACT_NEXT);
	ck_assert_int_eq(datapath_flow_count(dp), 0);
}
END_TEST

START_TEST(steal_drops_and_hands_off)
{
	struct datapath_ip pod = bpftest_ip(POD);
	struct bm_flow_key k;
	struct bm_flow f;

	ck_assert_int_eq(datapath_subscribe(dp, &pod, 80, DATAPATH_STEAL, 9), 0);
	ck_assert_int_eq(datapath_subscribe(dp, &pod, 80, DATAPATH_STEAL, 10), -EBUSY);
	ck_assert_int_eq(run(BM_DIR_TO_POD, &c2p, PG_SYN, 0, NULL, NULL), ACT_DROP);
	bpftest_flow_key(&c2p, &k);
	ck_assert_int_eq(datapath_flow_lookup(dp, &k, &f), 0);
	ck_assert_int_eq(f.verdict, BM_V_STEAL);
	ck_assert_uint_eq(f.sessions[0], 9);
	/* Every packet of the flow, pure ACKs included, is taken. */
	ck_assert_int_eq(run(BM_DIR_TO_POD, &c2p, PG_ACK, 0, NULL, NULL), ACT_DROP);
	ck_assert_int_eq(run(BM_DIR_TO_POD, &c2p, PG_ACK, 30, NULL, NULL), ACT_DROP);
	ck_assert_int_eq(drain(), 3);
	ck_assert_uint_eq(recs[2].hdr.reason, BM_R_STOLEN);
	ck_assert_uint_eq(recs[2].hdr.sessions[0], 9);
	ck_assert_uint_eq(recs[2].hdr.cap_len, 70);
	ck_assert_uint_eq(delta(BM_R_STOLEN), 3);
	/* The pod should never answer a stolen flow; if it does, drop and count. */
	ck_assert_int_eq(run(BM_DIR_FROM_POD, &p2c, PG_RST, 0, NULL, NULL), ACT_DROP);
	ck_assert_uint_eq(delta(BM_R_STEAL_FROM_POD), 1);
	ck_assert_int_eq(drain(), 0);
}
END_TEST

START_TEST(steal_spares_node_probes)
{
	struct datapath_ip pod = bpftest_ip(POD), node = bpftest_ip(NODE);
	struct pg_flow probe = c2p;

	probe.src = NODE;
	ck_assert_int_eq(datapath_add_node_addr(dp, &node), 0);
	ck_assert_int_eq(datapath_subscribe(dp, &pod, 80, DATAPATH_STEAL, 9), 0);
	ck_assert_int_eq(run(BM_DIR_TO_POD, &probe, PG_SYN, 0, NULL, NULL), ACT_NEXT);
	ck_assert_int_eq(run(BM_DIR_TO_POD, &probe, PG_ACK, 20, NULL, NULL), ACT_NEXT);
	ck_assert_int_eq(drain(), 0);
	ck_assert_int_eq(datapath_flow_count(dp), 0);
	ck_assert_uint_eq(delta(BM_R_PROBE), 1);
	/* Others are still stolen. */
	ck_assert_int_eq(run(BM_DIR_TO_POD, &c2p, PG_SYN, 0, NULL, NULL), ACT_DROP);
}
END_TEST

START_TEST(unsubscribe_returns_flows_to_pod)
{
	struct datapath_ip pod = bpftest_ip(POD);

	ck_assert_int_eq(datapath_subscribe(dp, &pod, 80, DATAPATH_STEAL, 9), 0);
	ck_assert_int_eq(run(BM_DIR_TO_POD, &c2p, PG_SYN, 0, NULL, NULL), ACT_DROP);
	ck_assert_int_eq(datapath_flow_count(dp), 1);
	ck_assert_int_eq(datapath_unsubscribe(dp, &pod, 80, 9), 0);
	ck_assert_int_eq(datapath_unsubscribe(dp, &pod, 80, 9), -ENOENT);
	ck_assert_int_eq(datapath_flow_count(dp), 0);
	ck_assert_int_eq(run(BM_DIR_TO_POD, &c2p, PG_ACK, 10, NULL, NULL), ACT_NEXT);
	ck_assert_int_eq(run(BM_DIR_TO_POD, &c2p, PG_SYN, 0, NULL, NULL), ACT_NEXT);
	ck_assert_int_eq(datapath_flow_count(dp), 0);
}
END_TEST

START_TEST(syn_reuse_clears_stale_flow)
{
	struct datapath_ip pod = bpftest_ip(POD);

	ck_assert_int_eq(datapath_subscribe(dp, &pod, 80, DATAPATH_MIRROR, 7), 0);
	ck_assert_int_eq(run(BM_DIR_TO_POD, &c2p, PG_SYN, 0, NULL, NULL), ACT_NEXT);
	/* Subscription map emptied behind the flow table's back (as after a crash). */
	ck_assert_int_eq(datapath_unsubscribe(dp, &pod, 80, 7), 0);
	ck_assert_int_eq(datapath_subscribe(dp, &pod, 80, DATAPATH_MIRROR, 7), 0);
	ck_assert_int_eq(run(BM_DIR_TO_POD, &c2p, PG_SYN, 0, NULL, NULL), ACT_NEXT);
	ck_assert_int_eq(datapath_flow_count(dp), 1);
	ck_assert_int_eq(datapath_session_end(dp, 7), 0);
	ck_assert_int_eq(datapath_flow_count(dp), 0);
	ck_assert_int_eq(run(BM_DIR_TO_POD, &c2p, PG_SYN, 0, NULL, NULL), ACT_NEXT);
	ck_assert_int_eq(datapath_flow_count(dp), 0);
}
END_TEST

START_TEST(return_range_taken)
{
	struct datapath_ip pod = bpftest_ip(POD);
	struct pg_flow udp = {AF_INET, "10.96.0.10", POD, 53, 61005, IPPROTO_UDP};
	struct pg_flow tcp = {AF_INET, "10.1.0.9", POD, 443, 61009, IPPROTO_TCP};

	ck_assert_int_eq(datapath_reserve_ports(dp, &pod, 61000, 61009, 5), 0);
	ck_assert_int_eq(datapath_reserve_ports(dp, &pod, 61009, 61020, 6), -EBUSY);
	ck_assert_int_eq(run(BM_DIR_TO_POD, &udp, 0, 40, NULL, NULL), ACT_DROP);
	ck_assert_int_eq(run(BM_DIR_TO_POD, &tcp, PG_SYN | PG_ACK, 0, NULL, NULL), ACT_DROP);
	ck_assert_int_eq(drain(), 2);
	ck_assert_uint_eq(recs[0].hdr.reason, BM_R_RETURNED);
	ck_assert_uint_eq(recs[0].hdr.sessions[0], 5);
	ck_assert_uint_eq(recs[0].hdr.cap_len, 68);
	ck_assert_uint_eq(delta(BM_R_RETURNED), 2);
	/* Outside the range, and after release: the pod's. */
	tcp.dport = 61010;
	ck_assert_int_eq(run(BM_DIR_TO_POD, &tcp, PG_SYN | PG_ACK, 0, NULL, NULL), ACT_NEXT);
	ck_assert_int_eq(datapath_release_ports(dp, &pod, 61000, 61009, 5), 0);
	ck_assert_int_eq(run(BM_DIR_TO_POD, &udp, 0, 40, NULL, NULL), ACT_NEXT);
	ck_assert_int_eq(datapath_reserve_ports(dp, &pod, 61009, 61020, 6), 0);
	ck_assert_int_eq(datapath_session_end(dp, 6), 0);
	tcp.dport = 61015;
	ck_assert_int_eq(run(BM_DIR_TO_POD, &tcp, PG_SYN | PG_ACK, 0, NULL, NULL), ACT_NEXT);
	ck_assert_int_eq(drain(), 0);
}
END_TEST

START_TEST(odd_packets_pass_and_are_counted)
{
	uint8_t buf[128];
	size_t len;
	struct pg_flow icmp = {AF_INET, CLIENT, POD, 0, 0, 1};

	/* ARP */
	memset(buf, 0, sizeof(buf));
	buf[12] = 0x08;
	buf[13] = 0x06;
	ck_assert_int_eq(run_raw(BM_DIR_TO_POD, buf, 60), ACT_NEXT);
	ck_assert_int_eq(run_raw(BM_DIR_FROM_POD, buf, 60), ACT_NEXT);
	ck_assert_uint_eq(delta(BM_R_NOT_IP), 2);
	/* IPv4 total length beyond the packet */
	len = pg_build(buf, &c2p, PG_SYN, 0);
	buf[14 + 2] = 0x01;
	ck_assert_int_eq(run_raw(BM_DIR_TO_POD, buf, len), ACT_NEXT);
	len = pg_build(buf, &c2p, PG_SYN, 0);
	/* IHL of 3 words */
	buf[14] = 0x43;
	ck_assert_int_eq(run_raw(BM_DIR_TO_POD, buf, len), ACT_NEXT);
	/* TCP header cut off */
	len = pg_build(buf, &c2p, PG_SYN, 0);
	buf[14 + 3] = 28;
	ck_assert_int_eq(run_raw(BM_DIR_TO_POD, buf, 14 + 20 + 8), ACT_NEXT);
	ck_assert_uint_eq(delta(BM_R_SHORT), 3);
	/* ICMP */
	ck_assert_int_eq(run(BM_DIR_TO_POD, &icmp, 0, 0, NULL, NULL), ACT_NEXT);
	ck_assert_uint_eq(delta(BM_R_NOT_L4), 1);
	/* Non-first fragment */
	len = pg_build(buf, &c2p, PG_SYN, 0);
	buf[14 + 6] = 0x00;
	buf[14 + 7] = 0x10;
	ck_assert_int_eq(run_raw(BM_DIR_TO_POD, buf, len), ACT_NEXT);
	ck_assert_uint_eq(delta(BM_R_FRAGMENT), 1);
	ck_assert_int_eq(drain(), 0);
}
END_TEST

START_TEST(ipv6_mirror_and_steal)
{
	struct datapath_ip pod = bpftest_ip(POD6);
	struct pg_flow f = {AF_INET6, CLIENT6, POD6, 40000, 80, IPPROTO_TCP};
	struct pg_flow s = {AF_INET6, CLIENT6, POD6, 40001, 8080, IPPROTO_TCP};
	struct pg_flow r = {AF_INET6, POD6, CLIENT6, 8080, 40001, IPPROTO_TCP};
	uint8_t pkt[2048];
	size_t len;

	ck_assert_int_eq(datapath_subscribe(dp, &pod, 80, DATAPATH_MIRROR, 3), 0);
	ck_assert_int_eq(datapath_subscribe(dp, &pod, 8080, DATAPATH_STEAL, 4), 0);
	ck_assert_int_eq(run(BM_DIR_TO_POD, &f, PG_SYN, 0, NULL, NULL), ACT_NEXT);
	ck_assert_int_eq(run(BM_DIR_TO_POD, &f, PG_ACK, 0, NULL, NULL), ACT_NEXT);
	ck_assert_int_eq(run(BM_DIR_TO_POD, &f, PG_ACK, 33, pkt, &len), ACT_NEXT);
	ck_assert_int_eq(run(BM_DIR_TO_POD, &s, PG_SYN, 0, NULL, NULL), ACT_DROP);
	ck_assert_int_eq(run(BM_DIR_FROM_POD, &r, PG_ACK, 0, NULL, NULL), ACT_DROP);
	ck_assert_int_eq(drain(), 3);
	ck_assert_uint_eq(recs[1].hdr.family, BM_AF_INET6);
	ck_assert_uint_eq(recs[1].hdr.cap_len, 40 + 20 + 33);
	ck_assert_int_eq(memcmp(recs[1].data, pkt + 14, 93), 0);
	ck_assert_uint_eq(recs[2].hdr.reason, BM_R_STOLEN);
	ck_assert_uint_eq(recs[2].hdr.sessions[0], 4);
}
END_TEST

START_TEST(large_packet_copied_whole)
{
	static uint8_t buf[3100];
	struct datapath_ip pod = bpftest_ip(POD);
	size_t len;

	ck_assert_int_eq(datapath_subscribe(dp, &pod, 80, DATAPATH_MIRROR, 7), 0);
	ck_assert_int_eq(run(BM_DIR_TO_POD, &c2p, PG_SYN, 0, NULL, NULL), ACT_NEXT);
	len = pg_build(buf, &c2p, PG_ACK, 3000);
	ck_assert_int_eq(run_raw(BM_DIR_TO_POD, buf, len), ACT_NEXT);
	ck_assert_int_eq(drain(), 2);
	ck_assert_uint_eq(recs[1].hdr.cap_len, 3040);
	ck_assert_uint_eq(recs[1].hdr.flags, 0);
}
END_TEST

START_TEST(batched_wakeup_still_delivers)
{
	struct datapath_opts o = bpftest_opts(true);
	struct datapath_ip pod = bpftest_ip(POD);

	/* Reopen with batching: the rodata branch is verified only when enabled. */
	datapath_close(dp);
	o.mirror_batch_bytes = 64 << 10;
	dp = bpftest_open(&o);
	ck_assert_int_eq(datapath_subscribe(dp, &pod, 80, DATAPATH_MIRROR, 7), 0);
	ck_assert_int_eq(datapath_subscribe(dp, &pod, 81, DATAPATH_STEAL, 8), 0);
	ck_assert_int_eq(run(BM_DIR_TO_POD, &c2p, PG_SYN, 0, NULL, NULL), ACT_NEXT);
	ck_assert_int_eq(run(BM_DIR_TO_POD, &c2p, PG_ACK, 10, NULL, NULL), ACT_NEXT);
	{
		struct pg_flow f81 = c2p;

		f81.dport = 81;
		ck_assert_int_eq(run(BM_DIR_TO_POD, &f81, PG_SYN, 0, NULL, NULL), ACT_DROP);
	}
	ck_assert_int_eq(drain(), 3);
	ck_assert_uint_eq(recs[2].hdr.reason, BM_R_STOLEN);
}
END_TEST

static Suite *datapath_suite(void)
{
	Suite *s = suite_create("datapath");
	TCase *tc = tcase_create("prog_run");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, mirror_syn_creates_flow_and_copies);
	tcase_add_test(tc, mirror_several_sessions);
	tcase_add_test(tc, preexisting_flow_passes);
	tcase_add_test(tc, steal_drops_and_hands_off);
	tcase_add_test(tc, steal_spares_node_probes);
	tcase_add_test(tc, unsubscribe_returns_flows_to_pod);
	tcase_add_test(tc, syn_reuse_clears_stale_flow);
	tcase_add_test(tc, return_range_taken);
	tcase_add_test(tc, odd_packets_pass_and_are_counted);
	tcase_add_test(tc, ipv6_mirror_and_steal);
	tcase_add_test(tc, large_packet_copied_whole);
	tcase_add_test(tc, batched_wakeup_still_delivers);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN_ROOT(datapath_suite, "test_datapath")
