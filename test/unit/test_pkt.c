/* Unit tests for the IPv4/TCP/UDP parse and build helpers. */
#include "pkt.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

static uint32_t ip4(const char *s)
{
	uint32_t a;

	ck_assert_int_eq(inet_pton(AF_INET, s, &a), 1);
	return a;
}

START_TEST(ipv4_header_checksum_known_vector)
{
	/* A textbook IPv4 header whose checksum is 0xb861. */
	uint8_t h[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
			 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};

	ck_assert_uint_eq(pkt_csum_fold(pkt_csum_add(0, h, sizeof(h))), 0xb861);
}
END_TEST

START_TEST(tcp_build_parse_roundtrip)
{
	uint8_t buf[256];
	const char *payload = "hello, odd length"; /* 17 bytes: odd checksum tail */
	struct pkt_tcp_opts o = {
	    .has_mss = true, .mss = 1460, .has_wscale = true, .wscale = 7, .sack_ok = true};
	struct pkt_tcp_spec s = {.saddr = ip4("10.1.0.7"),
				 .daddr = ip4("10.244.0.5"),
				 .sport = 40000,
				 .dport = 8080,
				 .seq = 0xfffffff0u,
				 .ack = 77,
				 .flags = PKT_TCP_SYN | PKT_TCP_ACK,
				 .window = 1234,
				 .ip_id = 9,
				 .opts = &o};
	struct pkt_ipv4 ip;
	struct pkt_tcp t;
	ssize_t n;

	n = pkt_build_tcp(buf, sizeof(buf), &s, payload, strlen(payload));
	ck_assert_int_eq(n, 20 + 32 + 17);
	ck_assert_int_eq(pkt_parse_ipv4(buf, (size_t)n, &ip), 0);
	ck_assert(pkt_ipv4_csum_ok(&ip));
	ck_assert(pkt_l4_csum_ok(&ip));
	ck_assert_uint_eq(ip.saddr, s.saddr);
	ck_assert_uint_eq(ip.daddr, s.daddr);
	ck_assert_int_eq(pkt_parse_tcp(&ip, &t), 0);
	ck_assert_uint_eq(t.sport, 40000);
	ck_assert_uint_eq(t.dport, 8080);
	ck_assert_uint_eq(t.seq, 0xfffffff0u);
	ck_assert_uint_eq(t.ack, 77);
	ck_assert_uint_eq(t.flags, PKT_TCP_SYN | PKT_TCP_ACK);
	ck_assert_uint_eq(t.window, 1234);
	ck_assert(t.opts.has_mss && t.opts.mss == 1460);
	ck_assert(t.opts.has_wscale && t.opts.wscale == 7);
	ck_assert(t.opts.sack_ok);
	ck_assert(!t.opts.has_ts);
	ck_assert_uint_eq(t.payload_len, 17);
	ck_assert_mem_eq(t.payload, payload, 17);

	/* Any flipped byte must break a checksum. */
	buf[n - 1] ^= 0x40;
	ck_assert(!pkt_l4_csum_ok(&ip));
	buf[n - 1] ^= 0x40;
	buf[8] ^= 1;
	ck_assert(!pkt_ipv4_csum_ok(&ip));
}
END_TEST

START_TEST(tcp_build_in_place_and_limits)
{
	static uint8_t big[70000];
	struct pkt_tcp_spec s = {.flags = PKT_TCP_ACK};
	uint8_t buf[64];

	memcpy(buf + 40, "abcd", 4);
	ck_assert_int_eq(pkt_build_tcp(buf, sizeof(buf), &s, buf + 40, 4), 44);
	ck_assert_mem_eq(buf + 40, "abcd", 4);
	ck_assert_int_eq(pkt_build_tcp(buf, sizeof(buf), &s, "x", 30), -ENOSPC);
	ck_assert_int_eq(pkt_build_tcp(big, sizeof(big), &s, big, 65500), -EMSGSIZE);
}
END_TEST

START_TEST(udp_build_parse)
{
	uint8_t buf[128];
	struct pkt_ipv4 ip;
	struct pkt_udp u;
	ssize_t n;

	n = pkt_build_udp(buf, sizeof(buf), ip4("10.0.0.1"), ip4("10.0.0.2"), 53, 5353, "dns?", 4);
	ck_assert_int_eq(n, 32);
	ck_assert_int_eq(pkt_parse_ipv4(buf, (size_t)n, &ip), 0);
	ck_assert(pkt_l4_csum_ok(&ip));
	ck_assert_int_eq(pkt_parse_udp(&ip, &u), 0);
	ck_assert_uint_eq(u.sport, 53);
	ck_assert_uint_eq(u.dport, 5353);
	ck_assert_uint_eq(u.payload_len, 4);
	ck_assert_int_eq(pkt_parse_tcp(&ip, &(struct pkt_tcp){0}), -EINVAL);
	/* A zero UDP checksum means "none" and is accepted. */
	buf[26] = buf[27] = 0;
	ck_assert(pkt_l4_csum_ok(&ip));
	/* UDP length beyond the datagram. */
	buf[24] = 0xff;
	ck_assert_int_eq(pkt_parse_udp(&ip, &u), -EINVAL);
}
END_TEST

START_TEST(ipv4_rejects_malformed)
{
	uint8_t buf[128];
	struct pkt_tcp_spec s = {.flags = PKT_TCP_ACK};
	struct pkt_ipv4 ip;
	ssize_t n = pkt_build_tcp(buf, sizeof(buf), &s, "data", 4);

	ck_assert_int_eq(pkt_parse_ipv4(buf, (size_t)n, &ip), 0);
	ck_assert_int_eq(pkt_parse_ipv4(NULL, 0, &ip), -EINVAL);
	ck_assert_int_eq(pkt_parse_ipv4(buf, 19, &ip), -EINVAL);
	ck_assert_int_eq(pkt_parse_ipv4(buf, (size_t)n - 1, &ip), -EINVAL); /* tot_len > len */
	/* Link-layer padding after tot_len is not payload. */
	ck_assert_int_eq(pkt_parse_ipv4(buf, sizeof(buf), &ip), 0);
	ck_assert_uint_eq(ip.l4_len, (size_t)n - 20);
	buf[0] = 0x65;
	ck_assert_int_eq(pkt_parse_ipv4(buf, (size_t)n, &ip), -EINVAL);
	buf[0] = 0x44; /* IHL 16 bytes */
	ck_assert_int_eq(pkt_parse_ipv4(buf, (size_t)n, &ip), -EINVAL);
	buf[0] = 0x4f; /* IHL 60 > tot_len 44 */
	ck_assert_int_eq(pkt_parse_ipv4(buf, (size_t)n, &ip), -EINVAL);
	buf[0] = 0x45;
	buf[6] = 0x20; /* more fragments */
	ck_assert_int_eq(pkt_parse_ipv4(buf, (size_t)n, &ip), -EPROTONOSUPPORT);
	buf[6] = 0x00;
	buf[7] = 0x10; /* fragment offset */
	ck_assert_int_eq(pkt_parse_ipv4(buf, (size_t)n, &ip), -EPROTONOSUPPORT);
}
END_TEST

START_TEST(tcp_rejects_malformed)
{
	uint8_t buf[128];
	struct pkt_tcp_spec s = {.flags = PKT_TCP_ACK};
	struct pkt_ipv4 ip;
	struct pkt_tcp t;
	ssize_t n = pkt_build_tcp(buf, sizeof(buf), &s, "data", 4);

	ck_assert_int_eq(pkt_parse_ipv4(buf, (size_t)n, &ip), 0);
	buf[32] = 0x40; /* doff 16 bytes */
	ck_assert_int_eq(pkt_parse_tcp(&ip, &t), -EINVAL);
	buf[32] = 0xf0; /* doff 60 > segment */
	ck_assert_int_eq(pkt_parse_tcp(&ip, &t), -EINVAL);
	buf[32] = 0x50;
	ip.l4_len = 19;
	ck_assert_int_eq(pkt_parse_tcp(&ip, &t), -EINVAL);
	ip.l4_len = 24;
	ip.proto = 17;
	ck_assert_int_eq(pkt_parse_tcp(&ip, &t), -EINVAL);
}
END_TEST

/* Builds a TCP header with raw option bytes OPT (length a multiple of 4) and parses it. */
static int parse_with_opts(const uint8_t *opt, size_t olen, struct pkt_tcp *t)
{
	uint8_t buf[100] = {0};
	struct pkt_tcp_spec s = {.flags = PKT_TCP_SYN};
	struct pkt_ipv4 ip;
	size_t n = 40 + olen;

	pkt_build_tcp(buf, sizeof(buf), &s, NULL, 0);
	memcpy(buf + 40, opt, olen);
	buf[32] = (uint8_t)(((20 + olen) / 4) << 4);
	buf[2] = 0;
	buf[3] = (uint8_t)n;
	if (pkt_parse_ipv4(buf, n, &ip))
		return -1;
	return pkt_parse_tcp(&ip, t);
}

START_TEST(tcp_options)
{
	const uint8_t ok[] = {2, 4, 0x05, 0xb4, 1, 3, 3, 20, 4, 2, 8, 10,
			      0, 0, 0,	  0,	0, 0, 0, 0,  0, 0, 0, 0};
	const uint8_t eol[] = {0, 2, 4, 5, 0xb4, 0, 0, 0};
	const uint8_t zero_len[] = {2, 0, 0, 0};
	const uint8_t overrun[] = {1, 1, 8, 10};
	const uint8_t truncated[] = {1, 1, 1, 2};
	const uint8_t odd_size[] = {2, 3, 0, 1}; /* MSS with the wrong length: skipped */
	struct pkt_tcp t;

	ck_assert_int_eq(parse_with_opts(ok, sizeof(ok), &t), 0);
	ck_assert(t.opts.has_mss && t.opts.mss == 1460);
	ck_assert(t.opts.has_wscale && t.opts.wscale == 14); /* clamped */
	ck_assert(t.opts.sack_ok && t.opts.has_ts);
	ck_assert_int_eq(parse_with_opts(eol, sizeof(eol), &t), 0);
	ck_assert(!t.opts.has_mss);
	ck_assert_int_eq(parse_with_opts(zero_len, sizeof(zero_len), &t), -EINVAL);
	ck_assert_int_eq(parse_with_opts(overrun, sizeof(overrun), &t), -EINVAL);
	ck_assert_int_eq(parse_with_opts(truncated, sizeof(truncated), &t), -EINVAL);
	ck_assert_int_eq(parse_with_opts(odd_size, sizeof(odd_size), &t), 0);
	ck_assert(!t.opts.has_mss);
}
END_TEST

START_TEST(seq_compare_wraps)
{
	ck_assert(pkt_seq_lt(0xfffffff0u, 5));
	ck_assert(!pkt_seq_lt(5, 0xfffffff0u));
	ck_assert(pkt_seq_le(7, 7));
	ck_assert(!pkt_seq_lt(7, 7));
}
END_TEST

static Suite *pkt_suite(void)
{
	Suite *s = suite_create("pkt");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, ipv4_header_checksum_known_vector);
	tcase_add_test(tc, tcp_build_parse_roundtrip);
	tcase_add_test(tc, tcp_build_in_place_and_limits);
	tcase_add_test(tc, udp_build_parse);
	tcase_add_test(tc, ipv4_rejects_malformed);
	tcase_add_test(tc, tcp_rejects_malformed);
	tcase_add_test(tc, tcp_options);
	tcase_add_test(tc, seq_compare_wraps);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(pkt_suite)
