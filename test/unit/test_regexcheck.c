/* Unit tests for the one filter-regex validator. */
#include "regexcheck.h"
#include "testutil.h"

#include <errno.h>
#include <regex.h>
#include <string.h>

START_TEST(accepts_plain_filters)
{
	char err[256] = "";

	ck_assert_int_eq(regex_check("^X-Dev: alice$", REG_ICASE, err, sizeof(err)), 0);
	ck_assert_int_eq(regex_check("^/api/(v1|v2)/[a-z]+", 0, err, sizeof(err)), 0);
	ck_assert_int_eq(regex_check("a{3,5}b+", 0, err, sizeof(err)), 0);
}
END_TEST

START_TEST(refuses_bad_and_costly)
{
	char err[256], big[REGEX_MAX_LEN + 2];

	ck_assert_int_eq(regex_check("", 0, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(regex_check("a(b", 0, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "invalid regular expression"));
	ck_assert_int_eq(regex_check("(a)\\1", 0, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "back-references"));
	ck_assert_int_eq(regex_check("((a{20}){20}){20}", 0, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "too complex"));
	ck_assert_int_eq(regex_check("a++++++++++++", 0, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(regex_check("a{99999}", 0, err, sizeof(err)), -EINVAL);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(regex_check(big, 0, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "longer than"));
	big[REGEX_MAX_LEN] = '\0';
	ck_assert_int_eq(regex_check(big, 0, err, sizeof(err)), 0);
}
END_TEST

static Suite *regexcheck_suite(void)
{
	Suite *s = suite_create("regexcheck");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, accepts_plain_filters);
	tcase_add_test(tc, refuses_bad_and_costly);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(regexcheck_suite)
