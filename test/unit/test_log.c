/* Unit tests for the logging module. */
#include "log.h"
#include "testutil.h"

#include <errno.h>

START_TEST(parse_levels)
{
	enum log_level l;

	ck_assert_int_eq(log_parse_level("debug", &l), 0);
	ck_assert_int_eq(l, LOG_LVL_DEBUG);
	ck_assert_int_eq(log_parse_level("error", &l), 0);
	ck_assert_int_eq(l, LOG_LVL_ERROR);
	ck_assert_int_eq(log_parse_level("loud", &l), -EINVAL);
}
END_TEST

START_TEST(keeps_errno)
{
	errno = EPIPE;
	log_set_level(LOG_LVL_DEBUG);
	log_debug("test message %d", 1);
	ck_assert_int_eq(errno, EPIPE);
}
END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, parse_levels);
	tcase_add_test(tc, keeps_errno);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(log_suite)
