/* BPF_PROG_RUN tests of the transparent upstream: the router's packets to the pod, replies back.
 */
#include "bpftest.h"

#include <sched.h>

#define POD    "10.0.0.2"
#define CLIENT "10.0.0.1"
#define OTHER  "10.0.0.3"

#define ROUTER_IF 1 /* lo: a run's skb->ifindex is lo unless told otherwise */
#define CLIENT_IF 7 /* where a client's packet came from: any other ifindex */

/* Runs prog_fd on one packet that came in on ingress_ifindex; returns its verdict. */
static int run_fd(int prog_fd, const struct pg_flow *f, uint8_t flags, size_t payload,
		  uint32_t ingress_ifindex)
{
	static uint8_t buf[2048];
	struct __sk_buff ctx = {.ingress_ifindex = ingress_ifindex};
	size_t len = pg_build(buf, f, flags, payload);
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = buf, .data_size_in = (uint32_t)len,
		    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);

	ck_assert_int_eq(bpf_prog_test_run_opts(prog_fd, &o), 0);
	return (int)o.retval;
}

static int run(enum bm_dir dir, const struct pg_flow *f, uint8_t flags, uint32_t ingress)
{
	return run_fd(datapath_prog_fd(dp, dir), f, flags, 0, ingress);
}

static int run_router(const struct pg_flow *f, uint8_t flags, size_t payload)
{
	return run_fd(datapath_router_prog_fd(dp), f, flags, payload, ROUTER_IF);
}

static const struct pg_flow c2p = {AF_INET, CLIENT, POD, 40000, 8080, IPPROTO_TCP};
static const struct pg_flow p2c = {AF_INET, POD, CLIENT, 8080, 40000, IPPROTO_TCP};

/* The client's connection is routed; the router then opens the same tuple to the pod. */
static void route_client(void)
{
	struct datapath_ip pod = bpftest_ip(POD);

	ck_assert_int_eq(datapath_route(dp, &pod, 8080, ROUTER_IF), 0);
	ck_assert_int_eq(run(BM_DIR_TO_POD, &c2p, PG_SYN, CLIENT_IF), ACT_REDIRECT);
}

START_TEST(router_upstream_reaches_pod_and_reply_returns)
{
	static const uint8_t mac[6] = BM_ROUTER_MAC;

	route_client();
	/* The router's SYN and data, same tuple, coming in on the router link: to the pod. */
	ck_assert_int_eq(run(BM_DIR_TO_POD, &c2p, PG_SYN, ROUTER_IF), ACT_NEXT);
	ck_assert_int_eq(run(BM_DIR_TO_POD, &c2p, PG_ACK | PG_PSH, ROUTER_IF), ACT_NEXT);
	ck_assert_uint_eq(delta(BM_R_ROUTER_UPSTREAM), 2);
	/* The client's own packets still go to the router. */
	ck_assert_int_eq(run(BM_DIR_TO_POD, &c2p, PG_ACK, CLIENT_IF), ACT_REDIRECT);
	ck_assert_uint_eq(delta(BM_R_ROUTED), 2);
	/* The pod's answers go to the router link with the router's MAC. */
	ck_assert_int_eq(run(BM_DIR_FROM_POD, &p2c, PG_SYN | PG_ACK, 0), ACT_REDIRECT);
	ck_assert_int_eq(memcmp(out, mac, 6), 0);
	ck_assert_int_eq(run(BM_DIR_FROM_POD, &p2c, PG_ACK | PG_PSH, 0), ACT_REDIRECT);
	ck_assert_uint_eq(delta(BM_R_ROUTER_REPLY), 2);
}
END_TEST

START_TEST(ordinary_reply_is_not_steered)
{
	struct pg_flow o2p = c2p, p2o = p2c;

	route_client();
	/* A connection the pod accepted before routing began (no flow entry). */
	o2p.src = OTHER;
	p2o.dst = OTHER;
	ck_assert_int_eq(run(BM_DIR_FROM_POD, &p2o, PG_ACK | PG_PSH, 0), ACT_NEXT);
	/* Another port of the pod, not routed at all. */
	o2p.dport = 9090;
	p2o.sport = 9090;
	ck_assert_int_eq(run(BM_DIR_TO_POD, &o2p, PG_SYN, CLIENT_IF), ACT_NEXT);
	ck_assert_int_eq(run(BM_DIR_FROM_POD, &p2o, PG_SYN | PG_ACK, 0), ACT_NEXT);
	ck_assert_uint_eq(delta(BM_R_ROUTER_REPLY), 0);
}
END_TEST

START_TEST(router_syn_keeps_flow_after_route_off)
{
	struct datapath_ip pod = bpftest_ip(POD);

	route_client();
	ck_assert_int_eq(datapath_route(dp, &pod, 8080, 0), 0);
	/* A connection still in the router opens an upstream: the flow must stay routed. */
	ck_assert_int_eq(run(BM_DIR_TO_POD, &c2p, PG_SYN, ROUTER_IF), ACT_NEXT);
	ck_assert_int_eq(run(BM_DIR_FROM_POD, &p2c, PG_SYN | PG_ACK, 0), ACT_REDIRECT);
}
END_TEST

/* A namespace of the test's own with a route and a neighbour for the pod's address. */
static void pod_route_netns(void)
{
	ck_assert_int_eq(unshare(CLONE_NEWNET), 0);
	ck_assert_int_eq(system("ip link set lo up && ip link add bmt0 type veth peer name bmt1 && "
				"ip link set bmt1 up && ip link set bmt0 up && ip addr add "
				"10.0.0.254/24 dev bmt0 && "
				"ip neigh add " POD
				" lladdr 02:00:00:00:00:02 dev bmt0 nud permanent && "
				"sysctl -qw net.ipv4.conf.all.forwarding=1"),
			 0);
}

START_TEST(from_router_syn_tracks_and_forwards)
{
	static const uint8_t podmac[6] = {2, 0, 0, 0, 0, 2};
	struct pg_flow eph = c2p;
	struct bm_flow_key k;
	struct bm_flow f;

	pod_route_netns();
	/* The fallback port: no flow yet, the router's SYN creates it. */
	eph.sport = 50000;
	ck_assert_int_eq(run_router(&eph, PG_SYN, 0), ACT_REDIRECT);
	ck_assert_int_eq(memcmp(out, podmac, 6), 0);
	bpftest_flow_key(&eph, &k);
	ck_assert_int_eq(datapath_flow_lookup(dp, &k, &f), 0);
	ck_assert_uint_eq(f.verdict, BM_V_ROUTE);
	ck_assert_uint_eq(f.ifindex, ROUTER_IF);
	ck_assert_int_eq(run_router(&eph, PG_ACK | PG_PSH, 100), ACT_REDIRECT);
	ck_assert_uint_eq(delta(BM_R_ROUTER_UPSTREAM), 2);
}
END_TEST

START_TEST(from_router_answers_to_clients_take_node_path)
{
	pod_route_netns();
	route_client();
	/* The router's SYN-ACK and data toward the client: no flow in that direction. */
	ck_assert_int_eq(run_router(&p2c, PG_SYN | PG_ACK, 0), ACT_NEXT);
	ck_assert_int_eq(run_router(&p2c, PG_ACK | PG_PSH, 100), ACT_NEXT);
	ck_assert_uint_eq(delta(BM_R_ROUTER_UPSTREAM), 0);
	/* Without a pure SYN a packet of an unknown tuple is not the router's upstream either. */
	ck_assert_int_eq(
	    run_router(&(struct pg_flow){AF_INET, OTHER, POD, 1234, 8080, IPPROTO_TCP}, PG_ACK, 0),
	    ACT_NEXT);
}
END_TEST

static Suite *passthru_suite(void)
{
	Suite *s = suite_create("passthru");
	TCase *tc = tcase_create("prog_run");

	tcase_add_checked_fixture(tc, bpftest_setup, bpftest_teardown);
	tcase_add_test(tc, router_upstream_reaches_pod_and_reply_returns);
	tcase_add_test(tc, ordinary_reply_is_not_steered);
	tcase_add_test(tc, router_syn_keeps_flow_after_route_off);
	tcase_add_test(tc, from_router_syn_tracks_and_forwards);
	tcase_add_test(tc, from_router_answers_to_clients_take_node_path);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN_ROOT(passthru_suite, "test_passthru")
