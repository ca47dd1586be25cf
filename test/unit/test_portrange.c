/* Unit tests for picking a twin session's reserved port range. */
#include "portrange.h"
#include "testutil.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static struct port_set set;

START_TEST(pick_highest_free)
{
	struct port_range r;

	memset(&set, 0, sizeof(set));
	ck_assert_int_eq(port_range_pick(&set, 1024, &r), 0);
	ck_assert_uint_eq(r.lo, 64512);
	ck_assert_uint_eq(r.hi, 65535);
	port_set_add_range(&set, r);
	port_set_add(&set, 64000); /* a socket of the pod */
	ck_assert_int_eq(port_range_pick(&set, 1024, &r), 0);
	ck_assert_uint_eq(r.lo, 62464);
	ck_assert_uint_eq(r.hi, 63487);
}
END_TEST

START_TEST(pick_errors)
{
	struct port_range r;

	memset(&set, 0xff, sizeof(set));
	ck_assert_int_eq(port_range_pick(&set, 256, &r), -ENOSPC);
	ck_assert_int_eq(port_range_pick(&set, 1000, &r), -EINVAL);
	ck_assert_int_eq(port_range_pick(&set, 8, &r), -EINVAL);
	ck_assert_int_eq(port_range_pick(&set, 32768, &r), -EINVAL);
}
END_TEST

START_TEST(parse_proc_net)
{
	static const char tcp[] =
	    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n"
	    "   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0\n"
	    "   1: 0500F40A:FDE8 0100F40A:1F90 01 00000000:00000000 00:00000000 00000000 0\n"
	    "garbage line\n";

	memset(&set, 0, sizeof(set));
	ck_assert_int_eq(port_set_parse_proc_net(&set, tcp), 0);
	ck_assert(port_set_has(&set, 8080));
	ck_assert(port_set_has(&set, 65000));
	ck_assert(!port_set_has(&set, 8081));
}
END_TEST

START_TEST(own_process)
{
	memset(&set, 0, sizeof(set));
	ck_assert_int_eq(port_set_add_pod(&set, "/proc", getpid()), 0);
	/* The ephemeral range of our own namespace is always marked. */
	ck_assert(port_set_has(&set, 40000));
}
END_TEST

static Suite *portrange_suite(void)
{
	Suite *s = suite_create("portrange");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, pick_highest_free);
	tcase_add_test(tc, pick_errors);
	tcase_add_test(tc, parse_proc_net);
	tcase_add_test(tc, own_process);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(portrange_suite)
