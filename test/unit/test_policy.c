/* Unit tests for the agent's policy: parsing errors and every decision it makes. */
#include "policy.h"
#include "testutil.h"

#include <errno.h>
#include <string.h>

static struct policy *parse(const char *text, char *err)
{
	return policy_parse(text, strlen(text), "p.yaml", err, 512);
}

START_TEST(defaults_allow_but_hide_secrets)
{
	struct policy *p = policy_default();
	char why[256];

	ck_assert_int_eq(policy_check_attach(p, "default", POLICY_STEAL, NULL, NULL, why, 256), 0);
	ck_assert(!policy_path_allowed(p, "/var/run/secrets/kubernetes.io/serviceaccount/token"));
	ck_assert(!policy_path_allowed(p, "/var/run/secrets"));
	ck_assert(policy_path_allowed(p, "/var/run/secretsX"));
	ck_assert(policy_path_allowed(p, "/app/response.txt"));
	ck_assert(policy_env_allowed(p, "API_TOKEN"));
	policy_free(p);
}
END_TEST

START_TEST(namespaces_and_modes)
{
	char err[512], why[256];
	struct policy *p = parse("version: 1\n"
				 "namespaces:\n  allow: [team-*, staging]\n  deny: [team-secret]\n"
				 "mirror:\n  allowed: false\n",
				 err);

	ck_assert_msg(p != NULL, "%s", err);
	ck_assert_int_eq(policy_check_attach(p, "team-a", POLICY_STEAL, NULL, NULL, why, 256), 0);
	ck_assert_int_eq(policy_check_attach(p, "team-secret", POLICY_STEAL, NULL, NULL, why, 256),
			 -EACCES);
	ck_assert_ptr_nonnull(strstr(why, "team-secret"));
	ck_assert_int_eq(policy_check_attach(p, "prod", POLICY_STEAL, NULL, NULL, why, 256),
			 -EACCES);
	ck_assert_int_eq(policy_check_attach(p, "staging", POLICY_MIRROR, NULL, NULL, why, 256),
			 -EACCES);
	ck_assert_ptr_nonnull(strstr(why, "mirror"));
	policy_free(p);
}
END_TEST

START_TEST(required_header_filter)
{
	char err[512], why[256];
	struct policy *p = parse("version: 1\nsteal:\n  allow_whole_connection: false\n"
				 "  require_header: X-Dev\n  require_header_pattern: '[a-z]+'\n",
				 err);

	ck_assert_msg(p != NULL, "%s", err);
	ck_assert_int_eq(policy_check_attach(p, "ns", POLICY_STEAL, NULL, NULL, why, 256), -EACCES);
	ck_assert_ptr_nonnull(strstr(why, "filtered"));
	ck_assert_int_eq(policy_check_attach(p, "ns", POLICY_STEAL, "x-dev: alice", NULL, why, 256),
			 0);
	/* A regex value could match everyone's requests. */
	ck_assert_int_eq(policy_check_attach(p, "ns", POLICY_STEAL, "X-Dev: .*", NULL, why, 256),
			 -EACCES);
	ck_assert_int_eq(
	    policy_check_attach(p, "ns", POLICY_STEAL, "X-Dev: Alice1", NULL, why, 256), -EACCES);
	ck_assert_int_eq(policy_check_attach(p, "ns", POLICY_STEAL, "X-Other: bob", NULL, why, 256),
			 -EACCES);
	ck_assert_int_eq(policy_check_attach(p, "ns", POLICY_STEAL, NULL, "^/api", why, 256),
			 -EACCES);
	ck_assert_int_eq(policy_check_attach(p, "ns", POLICY_MIRROR, NULL, NULL, why, 256), 0);
	policy_free(p);
}
END_TEST

START_TEST(env_and_paths)
{
	char err[512];
	struct policy *p = parse("version: 1\nenv:\n  denied_names: ['*_TOKEN', AWS_*]\n"
				 "files:\n  denied_paths: [/etc/ssl/private/*.key]\n",
				 err);

	ck_assert_msg(p != NULL, "%s", err);
	ck_assert(!policy_env_allowed(p, "API_TOKEN"));
	ck_assert(!policy_env_allowed(p, "AWS_SECRET_ACCESS_KEY"));
	ck_assert(policy_env_allowed(p, "PORT"));
	ck_assert(!policy_path_allowed(p, "/etc/ssl/private/server.key"));
	ck_assert(policy_path_allowed(p, "/etc/ssl/private/README"));
	/* The list replaces the defaults. */
	ck_assert(policy_path_allowed(p, "/proc/1/environ"));
	policy_free(p);
}
END_TEST

/* The filters issue 11 found stealing other developers' requests are refused. */
START_TEST(declared_value_is_one_literal)
{
	static const char *const refused[] = {
	    "X-Dev:|.",
	    "X-Dev: a|.",
	    "X-Dev: a.*",
	    "^X-Dev: (alice)$",
	    "X-Dev:",
	    "X-Dev:   ",
	    "X-Dev: a$b",
	    "X-Devx: alice",
	    "X-De: alice",
	    ".*X-Dev: alice",
	    "Referer: X-Dev: alice",
	    "X-Dev: alice ",
	    "X-Dev: \\w",
	    NULL,
	};
	static const struct {
		const char *filter, *value;
	} ok[] = {
	    {"X-Dev: alice", "alice"},	 {"^X-Dev: alice$", "alice"},
	    {"x-dev:alice", "alice"},	 {"^X-DEV:  Alice Smith$", "Alice Smith"},
	    {"X-Dev: a\\.b\\$", "a.b$"}, {"X-Dev: a\\|b", "a|b"},
	};
	char err[512], why[256], value[64];
	struct policy *p = parse("version: 1\nsteal:\n  require_header: X-Dev\n", err);

	ck_assert_msg(p != NULL, "%s", err);
	for (size_t i = 0; refused[i]; i++) {
		ck_assert_msg(policy_declared_value(p, refused[i], value, sizeof(value), why,
						    sizeof(why)) == -EACCES,
			      "'%s' accepted as '%s'", refused[i], value);
		ck_assert_ptr_nonnull(strstr(why, "X-Dev"));
		ck_assert_int_eq(
		    policy_check_attach(p, "ns", POLICY_STEAL, refused[i], NULL, why, sizeof(why)),
		    -EACCES);
	}
	ck_assert_int_eq(policy_declared_value(p, NULL, value, sizeof(value), why, sizeof(why)),
			 -EACCES);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert_msg(policy_declared_value(p, ok[i].filter, value, sizeof(value), why,
						    sizeof(why)) == 0,
			      "'%s': %s", ok[i].filter, why);
		ck_assert_str_eq(value, ok[i].value);
	}
	/* Too long for the caller's buffer: refused, never truncated into another value. */
	ck_assert_int_eq(policy_declared_value(p, "X-Dev: alice", value, 5, why, sizeof(why)),
			 -EACCES);
	policy_free(p);
	/* Without a requirement there is nothing to declare. */
	p = policy_default();
	ck_assert_int_eq(
	    policy_declared_value(p, "X-Dev:|.", value, sizeof(value), why, sizeof(why)), 0);
	ck_assert_str_eq(value, "");
	policy_free(p);
}
END_TEST

/* The pattern must match the whole value, also with alternatives. */
START_TEST(pattern_matches_whole_value)
{
	char err[512], why[256], value[64];
	struct policy *p = parse("version: 1\nsteal:\n  require_header: X-Dev\n"
				 "  require_header_pattern: 'a|ab'\n",
				 err);

	ck_assert_msg(p != NULL, "%s", err);
	ck_assert_int_eq(policy_declared_value(p, "X-Dev: ab", value, sizeof(value), why, 256), 0);
	ck_assert_int_eq(policy_declared_value(p, "X-Dev: abc", value, sizeof(value), why, 256),
			 -EACCES);
	ck_assert_ptr_nonnull(strstr(why, "must match 'a|ab'"));
	ck_assert_str_eq(value, "");
	ck_assert_int_eq(policy_declared_value(p, "X-Dev: xab", value, sizeof(value), why, 256),
			 -EACCES);
	policy_free(p);
}
END_TEST

START_TEST(errors_name_place_and_key)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
	    {"version: 2\n", "p.yaml:1:10: version"},
	    {"version: 1\nsteal:\n  alowed: true\n", "p.yaml:3:3: steal.alowed: unknown key"},
	    {"version: 1\nmirror:\n  allowed: yes\n", "mirror.allowed: expected true or false"},
	    {"version: 1\nenv:\n  denied_names: PATH\n", "env.denied_names: expected a list"},
	    {"version: 1\nsteal:\n  require_header_pattern: '('\n", "invalid regular expression"},
	    {"version: 1\nsteal: [\n", "p.yaml:"},
	    {"version: 1\nsteal:\n  require_header: 'X-Dev: a'\n", "is not a header name"},
	};
	char err[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct policy *p = parse(bad[i].text, err);
		ck_assert_msg(p == NULL, "case %zu accepted", i);
		ck_assert_msg(strstr(err, bad[i].want) != NULL, "case %zu: '%s' lacks '%s'", i, err,
			      bad[i].want);
	}
}
END_TEST

static Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, defaults_allow_but_hide_secrets);
	tcase_add_test(tc, namespaces_and_modes);
	tcase_add_test(tc, required_header_filter);
	tcase_add_test(tc, declared_value_is_one_literal);
	tcase_add_test(tc, pattern_matches_whole_value);
	tcase_add_test(tc, env_and_paths);
	tcase_add_test(tc, errors_name_place_and_key);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(policy_suite)
