/* BPF_PROG_RUN tests of the filtered-steal verdict: redirect to the router link, MAC, exemptions.
 */
#include "bpftest.h"

#define POD    "10.0.0.2"
#define CLIENT "10.0.0.1"
#define NODE   "10.0.0.254"

#define ROUTER_IF 1 /* lo: any existing ifindex will do for a test run */

static const struct pg_flow c2p = {AF_INET, CLIENT, POD, 40000, 8080, IPPROTO_TCP};
static const struct pg_flow p2c = {AF_INET, POD, CLIENT, 8080, 40000, IPPROTO_TCP};

START_TEST(route_redirects_flow_with_router_mac)
{
	static const uint8_t mac[6] = BM_ROUTER_MAC;
	struct datapath_ip pod = bpftest_ip(POD);
	struct bm_flow_key k;
	struct bm_flow f;

	ck_assert_int_eq(datapath_route(dp, &pod, 8080, ROUTER_IF), 0);
	ck_assert_int_eq(run_pkt(BM_DIR_TO_POD, &c2p, PG_SYN, 0), ACT_REDIRECT);
	ck_assert_int_eq(memcmp(out, mac, 6), 0);
	bpftest_flow_key(&c2p, &k);
	ck_assert_int_eq(datapath_flow_lookup(dp, &k, &f), 0);
	ck_assert_uint_eq(f.verdict, BM_V_ROUTE);
	ck_assert_uint_eq(f.ifindex, ROUTER_IF);
	/* Every later packet of the flow follows, data and pure ACKs alike. */
	ck_assert_int_eq(run_pkt(BM_DIR_TO_POD, &c2p, PG_ACK, 0), ACT_REDIRECT);
	ck_assert_int_eq(run_pkt(BM_DIR_TO_POD, &c2p, PG_ACK | PG_PSH, 100), ACT_REDIRECT);
	ck_assert_int_eq(memcmp(out, mac, 6), 0);
	ck_assert_uint_eq(delta(BM_R_ROUTED), 3);
	/* What the pod sends on that flow answers the router's upstream (test_passthru.c). */
	ck_assert_int_eq(run_pkt(BM_DIR_FROM_POD, &p2c, PG_RST, 0), ACT_REDIRECT);
}
END_TEST

START_TEST(route_spares_node_sources)
{
	struct datapath_ip pod = bpftest_ip(POD), node = bpftest_ip(NODE);
	struct pg_flow probe = c2p;

	probe.src = NODE;
	ck_assert_int_eq(datapath_add_node_addr(dp, &node), 0);
	ck_assert_int_eq(datapath_route(dp, &pod, 8080, ROUTER_IF), 0);
	/* Kubelet probes and the router's own connections to the app. */
	ck_assert_int_eq(run_pkt(BM_DIR_TO_POD, &probe, PG_SYN, 0), ACT_NEXT);
	ck_assert_int_eq(run_pkt(BM_DIR_TO_POD, &probe, PG_ACK, 20), ACT_NEXT);
	ck_assert_uint_eq(delta(BM_R_PROBE), 1);
	ck_assert_uint_eq(delta(BM_R_ROUTED), 0);
}
END_TEST

START_TEST(route_off_keeps_existing_flows)
{
	struct datapath_ip pod = bpftest_ip(POD);
	struct pg_flow other = c2p;

	ck_assert_int_eq(datapath_route(dp, &pod, 8080, ROUTER_IF), 0);
	ck_assert_int_eq(run_pkt(BM_DIR_TO_POD, &c2p, PG_SYN, 0), ACT_REDIRECT);
	ck_assert_int_eq(datapath_route(dp, &pod, 8080, 0), 0);
	/* The router still serves the connection it accepted... */
	ck_assert_int_eq(run_pkt(BM_DIR_TO_POD, &c2p, PG_ACK, 10), ACT_REDIRECT);
	/* ...new ones go to the pod, and so do other ports. */
	other.sport = 40001;
	ck_assert_int_eq(run_pkt(BM_DIR_TO_POD, &other, PG_SYN, 0), ACT_NEXT);
	other.dport = 9090;
	ck_assert_int_eq(datapath_route(dp, &pod, 8080, ROUTER_IF), 0);
	ck_assert_int_eq(run_pkt(BM_DIR_TO_POD, &other, PG_SYN, 0), ACT_NEXT);
}
END_TEST

START_TEST(whole_steal_takes_precedence)
{
	struct datapath_ip pod = bpftest_ip(POD);

	ck_assert_int_eq(datapath_route(dp, &pod, 8080, ROUTER_IF), 0);
	ck_assert_int_eq(datapath_subscribe(dp, &pod, 8080, DATAPATH_STEAL, 5), 0);
	ck_assert_int_eq(run_pkt(BM_DIR_TO_POD, &c2p, PG_SYN, 0), ACT_DROP);
	ck_assert_uint_eq(delta(BM_R_STOLEN), 1);
	/* Ending the steal leaves the route in place. */
	ck_assert_int_eq(datapath_unsubscribe(dp, &pod, 8080, 5), 0);
	ck_assert_int_eq(run_pkt(BM_DIR_TO_POD, &c2p, PG_SYN, 0), ACT_REDIRECT);
}
END_TEST

static Suite *route_suite(void)
{
	Suite *s = suite_create("route");
	TCase *tc = tcase_create("prog_run");

	tcase_add_checked_fixture(tc, bpftest_setup, bpftest_teardown);
	tcase_add_test(tc, route_redirects_flow_with_router_mac);
	tcase_add_test(tc, route_spares_node_sources);
	tcase_add_test(tc, route_off_keeps_existing_flows);
	tcase_add_test(tc, whole_steal_takes_precedence);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN_ROOT(route_suite, "test_route")
