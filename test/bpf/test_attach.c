/* Real attach on a veth pair in a private netns: tcx/clsact attach, handoff, detach on close and
 * kill -9, inject. */
#include "bpftest.h"
#include "podroute.h"
#include "unit/privnetns.h"

#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define HOSTIF "bmt0" /* host side of the "pod" veth */
#define PODIF  "bmt1"
#define POD    "10.9.0.2"
#define NODE   "10.9.0.1"
#define REMOTE "10.8.0.1"

static int got;

static int count_pkt(void *ctx, const struct datapath_pkt *pkt)
{
	(void)ctx;
	if (pkt->hdr->reason == BM_R_MIRRORED && pkt->hdr->sessions[0] == 7)
		got++;
	return 0;
}

/* True if one of our programs is on HOSTIF (bpftool 7.1 does not list tcx links). */
static bool attached(void)
{
	int n = datapath_count_attached((int)if_nametoindex(HOSTIF));

	ck_assert_int_ge(n, 0);
	return n > 0;
}

/* Waits up to 2 s for the programs to vanish (link release is asynchronous). */
static bool detached_soon(void)
{
	for (int i = 0; i < 40; i++) {
		if (!attached())
			return true;
		usleep(50000);
	}
	return false;
}

static void send_frame(const struct pg_flow *f, uint8_t flags, size_t payload)
{
	struct sockaddr_ll sll = {.sll_family = AF_PACKET};
	uint8_t buf[1600];
	size_t len = pg_build(buf, f, flags, payload);
	int s = socket(AF_PACKET, SOCK_RAW, 0);

	ck_assert_int_ge(s, 0);
	sll.sll_ifindex = (int)if_nametoindex(HOSTIF);
	sll.sll_halen = 6;
	ck_assert_int_eq(sendto(s, buf, len, 0, (struct sockaddr *)&sll, sizeof(sll)),
			 (ssize_t)len);
	close(s);
}

static struct datapath *open_dp(bool clsact)
{
	struct datapath_opts o = bpftest_opts(false);

	o.force_clsact = clsact;
	return bpftest_open(&o);
}

static void mirror_roundtrip(bool clsact)
{
	const struct pg_flow f = {AF_INET, "10.7.0.5", POD, 41000, 80, IPPROTO_TCP};
	struct datapath *dp = open_dp(clsact);
	struct datapath_ip pod, node_src;
	int ifindex = 0;

	ck_assert_int_eq(datapath_ip_parse("10.99.0.1", &pod), 0);
	ck_assert_int_lt(podroute_lookup(&pod, &ifindex, &node_src), 0);
	ck_assert_int_eq(datapath_ip_parse(REMOTE, &pod), 0);
	ck_assert_int_eq(podroute_lookup(&pod, &ifindex, &node_src), -EADDRNOTAVAIL);
	ck_assert_int_eq(datapath_ip_parse(POD, &pod), 0);
	ck_assert_int_eq(podroute_lookup(&pod, &ifindex, &node_src), 0);
	ck_assert_int_eq(ifindex, (int)if_nametoindex(HOSTIF));
	ck_assert_int_eq(node_src.family, AF_INET);
	ck_assert_int_eq(memcmp(&node_src.u.v4, (uint8_t[]){10, 9, 0, 1}, 4), 0);
	ck_assert_int_eq(datapath_attach_pod(dp, ifindex, &node_src), 0);
	ck_assert_int_eq(datapath_attach_pod(dp, ifindex, NULL), 0);
	ck_assert(datapath_pod_uses_tcx(dp, ifindex) == !clsact);
	ck_assert(attached());
	ck_assert_int_eq(datapath_subscribe(dp, &pod, 80, DATAPATH_MIRROR, 7), 0);
	send_frame(&f, PG_SYN, 0);
	send_frame(&f, PG_ACK, 0);
	send_frame(&f, PG_ACK | PG_PSH, 200);
	/* Waiting on datapath_fd() must be enough (wakeups / batch timer). */
	got = 0;
	for (int i = 0; i < 10 && got < 2; i++) {
		struct pollfd pfd = {.fd = datapath_fd(dp), .events = POLLIN};

		ck_assert_int_eq(poll(&pfd, 1, 100), 1);
		ck_assert_int_ge(datapath_poll(dp, count_pkt, NULL), 0);
	}
	ck_assert_int_eq(got, 2);
	send_frame(&f, PG_ACK | PG_PSH, 100);
	for (int i = 0; i < 10 && got < 3; i++) {
		struct pollfd pfd = {.fd = datapath_fd(dp), .events = POLLIN};

		ck_assert_int_eq(poll(&pfd, 1, 100), 1);
		ck_assert_int_ge(datapath_poll(dp, count_pkt, NULL), 0);
	}
	ck_assert_int_eq(got, 3);
	/* Refcounted: the first release keeps the programs. */
	ck_assert_int_eq(datapath_release_pod(dp, ifindex), 0);
	ck_assert(attached());
	ck_assert_int_eq(datapath_release_pod(dp, ifindex), 0);
	ck_assert(detached_soon());
	datapath_close(dp);
}

START_TEST(tcx_attach_handoff_detach)
{
	mirror_roundtrip(false);
}
END_TEST

START_TEST(clsact_attach_handoff_detach)
{
	mirror_roundtrip(true);
}
END_TEST

/* Forks an agent-like child that attaches and waits; returns its pid once attached. */
static pid_t attached_child(bool clsact)
{
	int p[2];
	char c;
	pid_t pid;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct datapath *dp = open_dp(clsact);

		if (datapath_attach_pod(dp, (int)if_nametoindex(HOSTIF), NULL))
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	close(p[0]);
	return pid;
}

START_TEST(kill9_detaches_tcx)
{
	pid_t pid = attached_child(false);
	bool was = attached();

	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	ck_assert(was);
	ck_assert(detached_soon());
}
END_TEST

START_TEST(stale_clsact_removed_at_open)
{
	pid_t pid = attached_child(true);
	struct datapath *dp;

	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	/* clsact filters outlive their process... */
	ck_assert(attached());
	/* ...and the next agent removes them when it starts. */
	dp = open_dp(false);
	ck_assert(!attached());
	datapath_close(dp);
}
END_TEST

/* Builds an IPv4/UDP packet POD:1234 -> REMOTE:5000 (UDP checksum 0 = none). */
static size_t udp_packet(uint8_t *ip, const char *msg)
{
	const struct pg_flow f = {AF_INET, POD, REMOTE, 1234, 5000, IPPROTO_UDP};
	uint8_t frame[256];
	size_t len = pg_build(frame, &f, 0, strlen(msg));
	uint32_t sum = 0;

	memcpy(frame + 14 + 28, msg, strlen(msg));
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)(frame[14 + i] << 8 | frame[14 + i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	frame[14 + 10] = (uint8_t)(~sum >> 8);
	frame[14 + 11] = (uint8_t)~sum;
	memcpy(ip, frame + 14, len - 14);
	return len - 14;
}

START_TEST(inject_is_routed_with_pod_source)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(5000)};
	struct timeval tv = {.tv_sec = 2};
	struct datapath *dp = open_dp(false);
	uint8_t pkt[256];
	char buf[64] = "";
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	size_t len;

	ck_assert_int_ge(s, 0);
	inet_pton(AF_INET, REMOTE, &sa.sin_addr);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	len = udp_packet(pkt, "hello");
	ck_assert_int_eq(datapath_inject(dp, pkt, len), 0);
	ck_assert_int_eq(recv(s, buf, sizeof(buf) - 1, 0), 5);
	ck_assert_str_eq(buf, "hello");
	close(s);
	datapath_close(dp);
}
END_TEST

static Suite *attach_suite(void)
{
	Suite *s = suite_create("attach");
	TCase *tc = tcase_create("veth");

	tcase_add_test(tc, tcx_attach_handoff_detach);
	tcase_add_test(tc, clsact_attach_handoff_detach);
	tcase_add_test(tc, kill9_detaches_tcx);
	tcase_add_test(tc, stale_clsact_removed_at_open);
	tcase_add_test(tc, inject_is_routed_with_pod_source);
	suite_add_tcase(s, tc);
	return s;
}

/* Everything lives in a network namespace private to this process: it and
 * its links vanish when the test exits, whatever happens. */
static int make_netns(void)
{
	static const char *const cmds[] = {
	    "ip link set lo up",
	    "ip link add " HOSTIF " type veth peer name " PODIF,
	    "ip link set " HOSTIF " up",
	    "ip link set " PODIF " up",
	    "ip addr add " NODE "/24 dev " HOSTIF,
	    "ip addr add " REMOTE "/32 dev lo",
	    "sysctl -qw net.ipv4.ip_forward=1",
	    NULL,
	};

	return test_private_netns(cmds);
}

int main(void)
{
	int rc = test_need_root("test_attach");

	if (rc)
		return rc;
	if (make_netns()) {
		fprintf(stderr, "test_attach: cannot set up a netns with veth, skipping\n");
		return 77;
	}
	return test_run_suite(attach_suite());
}
