/* BPF_PROG_RUN tests of failing open: with a stale agent heartbeat the programs pass everything.
 */
#include "bpftest.h"

#include <time.h>

#define POD	  "10.0.0.2"
#define CLIENT	  "10.0.0.1"
#define ROUTER_IF 1 /* lo: any existing ifindex will do for a test run */

static void setup(void)
{
	struct datapath_opts o = bpftest_opts(true);

	o.mirror_batch_bytes = 0;
	dp = bpftest_open(&o);
	ck_assert_int_eq(datapath_stats(dp, before), 0);
}

static void teardown(void)
{
	datapath_close(dp);
	dp = NULL;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A heartbeat AGE_MS old (the agent stopped writing it that long ago). */
static void heartbeat_age(uint64_t age_ms)
{
	datapath_heartbeat_set(dp, mono_ns() - age_ms * 1000000ull);
}

static int drain(void)
{
	int n = datapath_poll(dp, NULL, NULL);

	ck_assert_int_ge(n, 0);
	return n;
}

static const struct pg_flow c2p = {AF_INET, CLIENT, POD, 40000, 8080, IPPROTO_TCP};
static const struct pg_flow c2p_new = {AF_INET, CLIENT, POD, 40001, 8080, IPPROTO_TCP};
static const struct pg_flow p2c = {AF_INET, POD, CLIENT, 8080, 40000, IPPROTO_TCP};
static const struct pg_flow reply = {AF_INET, "10.96.0.10", POD, 53, 61005, IPPROTO_UDP};

START_TEST(steal_and_return_fail_open)
{
	struct datapath_ip pod = bpftest_ip(POD);

	ck_assert_int_eq(datapath_subscribe(dp, &pod, 8080, DATAPATH_STEAL, 9), 0);
	ck_assert_int_eq(datapath_reserve_ports(dp, &pod, 61000, 61009, 9), 0);
	/* Fresh heartbeat (written at open): stolen and returned as usual. */
	ck_assert_int_eq(run_pkt(BM_DIR_TO_POD, &c2p, PG_SYN, 0), ACT_DROP);
	ck_assert_int_eq(run_pkt(BM_DIR_TO_POD, &reply, 0, 20), ACT_DROP);
	ck_assert_int_eq(drain(), 2);
	/* 1.5 s without a beat: everything passes, nothing is handed off. */
	heartbeat_age(1500);
	ck_assert_int_eq(run_pkt(BM_DIR_TO_POD, &c2p_new, PG_SYN, 0), ACT_NEXT);
	ck_assert_int_eq(run_pkt(BM_DIR_TO_POD, &c2p, PG_ACK, 10), ACT_NEXT);
	ck_assert_int_eq(run_pkt(BM_DIR_TO_POD, &reply, 0, 20), ACT_NEXT);
	ck_assert_int_eq(run_pkt(BM_DIR_FROM_POD, &p2c, PG_RST, 0), ACT_NEXT);
	ck_assert_uint_eq(delta(BM_R_FAIL_OPEN), 4);
	ck_assert_uint_eq(delta(BM_R_STOLEN), 1);
	ck_assert_uint_eq(delta(BM_R_RETURNED), 1);
	ck_assert_uint_eq(delta(BM_R_STEAL_FROM_POD), 0);
	/* datapath_poll beats again: the steal is back. */
	ck_assert_int_eq(drain(), 0);
	ck_assert_int_eq(run_pkt(BM_DIR_TO_POD, &c2p_new, PG_SYN, 0), ACT_DROP);
	ck_assert_uint_eq(delta(BM_R_FAIL_OPEN), 4);
}
END_TEST

START_TEST(route_fails_open_without_redirect)
{
	static const uint8_t mac[6] = BM_ROUTER_MAC;
	struct datapath_ip pod = bpftest_ip(POD);

	ck_assert_int_eq(datapath_route(dp, &pod, 8080, ROUTER_IF), 0);
	ck_assert_int_eq(run_pkt(BM_DIR_TO_POD, &c2p, PG_SYN, 0), ACT_REDIRECT);
	heartbeat_age(2000);
	ck_assert_int_eq(run_pkt(BM_DIR_TO_POD, &c2p, PG_ACK, 10), ACT_NEXT);
	ck_assert_int_eq(run_pkt(BM_DIR_TO_POD, &c2p_new, PG_SYN, 0), ACT_NEXT);
	/* Untouched: the destination MAC is not the router's. */
	ck_assert_int_ne(memcmp(out, mac, 6), 0);
	ck_assert_uint_eq(delta(BM_R_ROUTED), 1);
	ck_assert_uint_eq(delta(BM_R_FAIL_OPEN), 2);
}
END_TEST

START_TEST(heartbeat_bounds)
{
	struct datapath_ip pod = bpftest_ip(POD);

	ck_assert_int_eq(datapath_subscribe(dp, &pod, 8080, DATAPATH_MIRROR, 3), 0);
	/* Under a second old: engaged. */
	heartbeat_age(700);
	ck_assert_int_eq(run_pkt(BM_DIR_TO_POD, &c2p, PG_SYN, 0), ACT_NEXT);
	ck_assert_uint_eq(delta(BM_R_MIRRORED), 1);
	/* Never written (0): open. */
	datapath_heartbeat_set(dp, 0);
	ck_assert_int_eq(run_pkt(BM_DIR_TO_POD, &c2p, PG_ACK, 10), ACT_NEXT);
	ck_assert_uint_eq(delta(BM_R_MIRRORED), 1);
	ck_assert_uint_eq(delta(BM_R_FAIL_OPEN), 1);
	/* A beat a moment in the future (another CPU's clock read): engaged. */
	datapath_heartbeat_set(dp, mono_ns() + 1000000ull);
	ck_assert_int_eq(run_pkt(BM_DIR_TO_POD, &c2p, PG_ACK, 10), ACT_NEXT);
	ck_assert_uint_eq(delta(BM_R_MIRRORED), 2);
	ck_assert_uint_eq(delta(BM_R_FAIL_OPEN), 1);
	ck_assert_str_eq(datapath_reason_name(BM_R_FAIL_OPEN), "fail_open_passed");
}
END_TEST

/* What the agent checks a session's injected replies against (session_packets.c). */
START_TEST(flow_stealer_names_the_session)
{
	struct datapath_ip pod = bpftest_ip(POD);
	struct pg_flow mirrored = c2p;
	struct bm_flow_key k;

	ck_assert_int_eq(datapath_subscribe(dp, &pod, 8080, DATAPATH_STEAL, 9), 0);
	ck_assert_int_eq(run_pkt(BM_DIR_TO_POD, &c2p, PG_SYN, 0), ACT_DROP);
	bpftest_flow_key(&c2p, &k);
	ck_assert_uint_eq(datapath_flow_stealer(dp, &k), 9);
	bpftest_flow_key(&c2p_new, &k);
	ck_assert_uint_eq(datapath_flow_stealer(dp, &k), 0);
	mirrored.dport = 9090;
	ck_assert_int_eq(datapath_subscribe(dp, &pod, 9090, DATAPATH_MIRROR, 9), 0);
	ck_assert_int_eq(run_pkt(BM_DIR_TO_POD, &mirrored, PG_SYN, 0), ACT_NEXT);
	bpftest_flow_key(&mirrored, &k);
	ck_assert_uint_eq(datapath_flow_stealer(dp, &k), 0);
	/* After Unsubscribe the flow is the pod's again. */
	ck_assert_int_eq(datapath_unsubscribe(dp, &pod, 8080, 9), 0);
	bpftest_flow_key(&c2p, &k);
	ck_assert_uint_eq(datapath_flow_stealer(dp, &k), 0);
}
END_TEST

static Suite *failopen_suite(void)
{
	Suite *s = suite_create("bpf_failopen");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, steal_and_return_fail_open);
	tcase_add_test(tc, route_fails_open_without_redirect);
	tcase_add_test(tc, heartbeat_bounds);
	tcase_add_test(tc, flow_stealer_names_the_session);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN_ROOT(failopen_suite, "test_failopen")
