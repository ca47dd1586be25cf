/* Unit tests for what a client may inject as its pod: source address, ports, fragments. */
#include "pkt.h"
#include "session_priv.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <string.h>

#define POD   "10.244.0.5"
#define OTHER "10.244.0.6"

static struct session sess;
static uint8_t buf[256];

static void setup(void)
{
	memset(&sess, 0, sizeof(sess));
	sess.pod_ip.family = AF_INET;
	inet_pton(AF_INET, POD, &sess.pod_ip.u.v4);
	sess.range.lo = 40000;
	sess.range.hi = 40999;
	sess.subs[0].port = 8080;
	sess.subs[0].mode = DATAPATH_STEAL;
	sess.subs[1].port = 9090;
	sess.subs[1].mode = DATAPATH_MIRROR;
	sess.nsubs = 2;
}

static size_t tcp_from(const char *src, uint16_t sport)
{
	struct pkt_tcp_spec t = {.sport = sport, .dport = 55555, .flags = PKT_TCP_ACK};
	ssize_t n;

	inet_pton(AF_INET, src, &t.saddr);
	inet_pton(AF_INET, "10.0.0.1", &t.daddr);
	n = pkt_build_tcp(buf, sizeof(buf), &t, "hi", 2);
	ck_assert_int_gt(n, 0);
	return (size_t)n;
}

static size_t udp_from(const char *src, uint16_t sport)
{
	uint32_t saddr, daddr;
	ssize_t n;

	inet_pton(AF_INET, src, &saddr);
	inet_pton(AF_INET, "10.0.0.1", &daddr);
	n = pkt_build_udp(buf, sizeof(buf), saddr, daddr, sport, 53, "q", 1);
	ck_assert_int_gt(n, 0);
	return (size_t)n;
}

/* Turns the packet in buf into protocol PROTO (header bytes only; the checksum is not checked). */
static void set_proto(uint8_t proto)
{
	buf[9] = proto;
}

static void set_frag(uint16_t off_and_flags)
{
	buf[6] = (uint8_t)(off_and_flags >> 8);
	buf[7] = (uint8_t)off_and_flags;
}

START_TEST(ports_of_the_pod_only)
{
	ck_assert(session_packet_allowed(&sess, buf, tcp_from(POD, 40000)));
	ck_assert(session_packet_allowed(&sess, buf, tcp_from(POD, 40999)));
	ck_assert(!session_packet_allowed(&sess, buf, tcp_from(POD, 41000)));
	ck_assert(session_packet_allowed(&sess, buf, udp_from(POD, 40500)));
	/* A stolen port: TCP replies only, mirrored ports never. */
	ck_assert(session_packet_allowed(&sess, buf, tcp_from(POD, 8080)));
	ck_assert(!session_packet_allowed(&sess, buf, udp_from(POD, 8080)));
	ck_assert(!session_packet_allowed(&sess, buf, tcp_from(POD, 9090)));
	/* Claimed but not subscribed: replies may trail an Unsubscribe. */
	sess.subs[0].active = false;
	ck_assert(session_packet_allowed(&sess, buf, tcp_from(POD, 8080)));
}
END_TEST

START_TEST(source_address_of_the_pod_only)
{
	ck_assert(!session_packet_allowed(&sess, buf, tcp_from(OTHER, 40000)));
	udp_from(OTHER, 40000);
	set_proto(IPPROTO_ICMP);
	ck_assert(!session_packet_allowed(&sess, buf, 29));
	sess.pod_ip.family = AF_INET6;
	ck_assert(!session_packet_allowed(&sess, buf, tcp_from(POD, 40000)));
}
END_TEST

START_TEST(malformed_headers)
{
	size_t n = tcp_from(POD, 40000);

	ck_assert(!session_packet_allowed(&sess, buf, 19));
	/* Total length must be the whole packet: no trailing bytes, no truncation. */
	ck_assert(!session_packet_allowed(&sess, buf, n + 1));
	ck_assert(!session_packet_allowed(&sess, buf, n - 1));
	buf[0] = 0x65; /* version 6 */
	ck_assert(!session_packet_allowed(&sess, buf, n));
	buf[0] = 0x44; /* IHL below 20 */
	ck_assert(!session_packet_allowed(&sess, buf, n));
	/* A transport header needs at least its ports. */
	udp_from(POD, 40000);
	buf[2] = 0;
	buf[3] = 23;
	ck_assert(!session_packet_allowed(&sess, buf, 23));
	buf[3] = 24;
	ck_assert(session_packet_allowed(&sess, buf, 24));
}
END_TEST

START_TEST(icmp_and_fragments)
{
	size_t n = udp_from(POD, 1);

	set_proto(IPPROTO_ICMP);
	ck_assert(session_packet_allowed(&sess, buf, n));
	/* ICMP may be fragmented (large pings); other protocols have no other port to check. */
	set_frag(0x2000);
	ck_assert(session_packet_allowed(&sess, buf, n));
	set_frag(0x0010);
	ck_assert(session_packet_allowed(&sess, buf, n));
	set_proto(IPPROTO_GRE);
	set_frag(0);
	ck_assert(!session_packet_allowed(&sess, buf, n));
	n = tcp_from(POD, 40000);
	set_frag(0x2000);
	ck_assert(!session_packet_allowed(&sess, buf, n));
	set_frag(0x0001);
	ck_assert(!session_packet_allowed(&sess, buf, n));
	set_frag(0x4000); /* don't fragment: a whole datagram */
	ck_assert(session_packet_allowed(&sess, buf, n));
	n = udp_from(POD, 40000);
	set_frag(0x2000);
	ck_assert(!session_packet_allowed(&sess, buf, n));
}
END_TEST

static Suite *session_packets_suite(void)
{
	Suite *s = suite_create("session_packets");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, ports_of_the_pod_only);
	tcase_add_test(tc, source_address_of_the_pod_only);
	tcase_add_test(tc, malformed_headers);
	tcase_add_test(tc, icmp_and_fragments);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(session_packets_suite());
}
