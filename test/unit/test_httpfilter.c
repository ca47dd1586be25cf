/* Unit tests for filtered-steal request filters: validation messages and matching rules. */
#include "http1.h"
#include "httpfilter.h"
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static struct http1_parser *parser;

/* Parses one request head; valid until the next call. */
static const struct http1_head *head_of(const char *req)
{
	struct http1_span sp;
	ssize_t n;

	http1_free(parser);
	parser = http1_new(HTTP1_REQUEST, NULL);
	ck_assert_ptr_nonnull(parser);
	n = http1_feed(parser, req, strlen(req), &sp);
	ck_assert_int_eq(n, (ssize_t)strlen(req));
	ck_assert(sp.head);
	return http1_head(parser);
}

static bool matches(const char *hre, const char *pre, const char *req)
{
	char err[256];
	struct httpfilter *f = httpfilter_new(hre, pre, err, sizeof(err));
	bool hit;

	ck_assert_msg(f != NULL, "compile failed: %s", err);
	hit = httpfilter_match(f, head_of(req));
	httpfilter_free(f);
	return hit;
}

static void teardown(void)
{
	http1_free(parser);
	parser = NULL;
}

START_TEST(header_lines)
{
	const char *req = "GET /x HTTP/1.1\r\nHost: svc\r\nx-dev:   Team-A  \r\n\r\n";

	ck_assert(matches("X-Dev: team-a", NULL, req));
	ck_assert(matches("^x-dev: team-a$", "", req));
	ck_assert(matches("X-DEV: TEAM", NULL, req));
	ck_assert(!matches("X-Dev: team-b", NULL, req));
	/* the regex sees one line at a time, never the next one */
	ck_assert(!matches("svc.*x-dev", NULL, req));
	ck_assert(matches("^Host: svc$", NULL, req));
	/* values are rendered without their surrounding whitespace */
	ck_assert(!matches("team-a +$", NULL, req));
	ck_assert(!matches("X-Dev: team-a", NULL, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
	ck_assert(matches("User-Agent: curl/", NULL,
			  "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nUser-Agent: curl/8.0\r\n\r\n"));
}
END_TEST

START_TEST(path_and_query)
{
	ck_assert(matches(NULL, "^/api/v1/", "GET /api/v1/users?id=3 HTTP/1.1\r\n\r\n"));
	ck_assert(matches(NULL, "id=3$", "GET /api/v1/users?id=3 HTTP/1.1\r\n\r\n"));
	/* paths are case-sensitive */
	ck_assert(!matches(NULL, "^/API/", "GET /api/v1 HTTP/1.1\r\n\r\n"));
	ck_assert(matches(NULL, "^/a/b\\?c$", "GET http://host:8080/a/b?c HTTP/1.1\r\n\r\n"));
	ck_assert(!matches(NULL, "host", "GET http://host:8080/a/b?c HTTP/1.1\r\n\r\n"));
}
END_TEST

START_TEST(both_must_match)
{
	const char *req = "GET /api HTTP/1.1\r\nX-Dev: alice\r\n\r\n";

	ck_assert(matches("X-Dev: alice", "^/api", req));
	ck_assert(!matches("X-Dev: alice", "^/web", req));
	ck_assert(!matches("X-Dev: bob", "^/api", req));
}
END_TEST

START_TEST(validation)
{
	char err[256];
	struct httpfilter *f;

	ck_assert_int_eq(httpfilter_validate("X-Dev: (team", NULL, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "header regex 'X-Dev: (team'"));
	ck_assert_int_eq(httpfilter_validate(NULL, "[a-", err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "path regex '[a-'"));
	ck_assert_int_eq(httpfilter_validate(NULL, NULL, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "needs a header regex"));
	ck_assert_int_eq(httpfilter_validate("", "", NULL, 0), -EINVAL);
	ck_assert_int_eq(httpfilter_validate("(a)\\1", NULL, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "back-references"));
	/* an escaped backslash followed by a digit is not a back-reference */
	ck_assert_int_eq(httpfilter_validate("a\\\\1", NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(httpfilter_validate("X-Dev: team-a", "^/", err, sizeof(err)), 0);

	char big[HTTPFILTER_MAX_REGEX + 2];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(httpfilter_validate(big, NULL, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "longer than"));

	errno = 0;
	f = httpfilter_new("(", NULL, err, sizeof(err));
	ck_assert_ptr_null(f);
	ck_assert_int_eq(errno, EINVAL);

	f = httpfilter_new("X-Dev: a", NULL, NULL, 0);
	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(httpfilter_header_regex(f), "X-Dev: a");
	ck_assert_str_eq(httpfilter_path_regex(f), "");
	httpfilter_free(f);
	httpfilter_free(NULL);
}
END_TEST

START_TEST(long_header_line)
{
	static char req[20000];
	size_t n = (size_t)sprintf(req, "GET / HTTP/1.1\r\nX-Long: ");

	memset(req + n, 'v', 10000);
	strcpy(req + n + 10000, "end\r\n\r\n");
	ck_assert(matches("X-Long: v+end$", NULL, req));
}
END_TEST

static Suite *httpfilter_suite(void)
{
	Suite *s = suite_create("httpfilter");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, header_lines);
	tcase_add_test(tc, path_and_query);
	tcase_add_test(tc, both_must_match);
	tcase_add_test(tc, validation);
	tcase_add_test(tc, long_header_line);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(httpfilter_suite)
