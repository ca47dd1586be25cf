/* Unit tests for opttab: the getopt arrays it builds, parsing through them, the usage it prints. */
#include "opttab.h"
#include "testutil.h"

#include <errno.h>
#include <string.h>

static const struct opttab_opt opts[] = {
    {"namespace", 'n', OPTTAB_SHORT, "NS", "the namespace"},
    {"steal", 's', 0, NULL, "take connections\ninstead of copying them"},
    {"a-very-long-option-name", 'L', 0, "VALUE", "help on the next line"},
    {NULL, 'v', OPTTAB_SHORT, NULL, "more logs"},
    {"hidden", 1000, 0, NULL, NULL},
    {"help", 'h', OPTTAB_SHORT, NULL, "this text"},
    {0},
};

static int parse(struct opttab *t, int argc, char **argv, char *seen, size_t len)
{
	const char *arg;
	int id;
	size_t n = 0;

	ck_assert_int_eq(opttab_init(t), 0);
	opterr = 0;
	while ((id = opttab_next(t, argc, argv, &arg)) != -1 && n + 1 < len) {
		seen[n++] = id == 1000 ? 'X' : (char)id;
		if (id == 'n' || id == 'L')
			ck_assert_ptr_nonnull(arg);
		else
			ck_assert_ptr_null(arg);
	}
	seen[n] = '\0';
	return optind;
}

START_TEST(builds_getopt_arrays)
{
	struct opttab t = {.opts = opts, .usage = "x"};

	ck_assert_int_eq(opttab_init(&t), 0);
	ck_assert_str_eq(t.shortopts, "n:vh");
	ck_assert_str_eq(t.longopts[0].name, "namespace");
	ck_assert_int_eq(t.longopts[0].has_arg, required_argument);
	ck_assert_int_eq(t.longopts[1].has_arg, no_argument);
	/* -v has no long form: not in longopts. */
	ck_assert_str_eq(t.longopts[3].name, "hidden");
	ck_assert_int_eq(t.longopts[3].val, 1000);
	ck_assert_str_eq(t.longopts[4].name, "help");
	ck_assert_ptr_null(t.longopts[5].name);

	t.in_order = true;
	ck_assert_int_eq(opttab_init(&t), 0);
	ck_assert_str_eq(t.shortopts, "+n:vh");
}
END_TEST

START_TEST(parses_short_long_and_args)
{
	char *argv[] = {
	    "prog", "-n",	"ns1",	       "--steal", "pos", "--a-very-long-option-name=v",
	    "-v",   "--hidden", "--namespace", "ns2",	  NULL};
	struct opttab t = {.opts = opts, .usage = "x"};
	char seen[16];

	/* Permuting: the positional argument is moved to the end. */
	ck_assert_int_eq(parse(&t, 10, argv, seen, sizeof(seen)), 9);
	ck_assert_str_eq(seen, "nsLvXn");
	ck_assert_str_eq(argv[9], "pos");
}
END_TEST

START_TEST(in_order_stops_at_first_argument)
{
	char *argv[] = {"prog", "-v", "TARGET", "-n", "x", NULL};
	struct opttab t = {.opts = opts, .usage = "x", .in_order = true};
	char seen[16];

	ck_assert_int_eq(parse(&t, 5, argv, seen, sizeof(seen)), 2);
	ck_assert_str_eq(seen, "v");
	/* A second parse starts again from argv[1]. */
	ck_assert_int_eq(parse(&t, 5, argv, seen, sizeof(seen)), 2);
	ck_assert_str_eq(seen, "v");
}
END_TEST

START_TEST(reports_unknown_and_missing)
{
	char *argv1[] = {"prog", "--nope", NULL};
	char *argv2[] = {"prog", "--namespace", NULL};
	char *argv3[] = {"prog", "-s", NULL}; /* --steal has no short form */
	struct opttab t = {.opts = opts, .usage = "x"};
	char seen[16];

	parse(&t, 2, argv1, seen, sizeof(seen));
	ck_assert_str_eq(seen, "?");
	parse(&t, 2, argv2, seen, sizeof(seen));
	ck_assert_str_eq(seen, "?");
	parse(&t, 2, argv3, seen, sizeof(seen));
	ck_assert_str_eq(seen, "?");
}
END_TEST

START_TEST(rejects_bad_tables)
{
	static const struct opttab_opt no_name[] = {{NULL, 'x', 0, NULL, NULL}, {0}};
	static const struct opttab_opt bad_short[] = {{"x", '-', OPTTAB_SHORT, NULL, NULL}, {0}};
	static struct opttab_opt many[OPTTAB_MAX + 2];
	struct opttab t = {.opts = no_name};

	ck_assert_int_eq(opttab_init(&t), -EINVAL);
	t.opts = bad_short;
	ck_assert_int_eq(opttab_init(&t), -EINVAL);
	for (int i = 0; i < OPTTAB_MAX + 1; i++)
		many[i] = (struct opttab_opt){"x", 1000 + i, 0, NULL, NULL};
	t.opts = many;
	ck_assert_int_eq(opttab_init(&t), -E2BIG);
	many[OPTTAB_MAX] = (struct opttab_opt){0};
	ck_assert_int_eq(opttab_init(&t), 0);
}
END_TEST

START_TEST(prints_usage_from_the_table)
{
	struct opttab t = {.opts = opts, .usage = "prog [OPTIONS] ARG", .about = "About.\n"};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	opttab_usage(&t, f);
	fclose(f);
	ck_assert_str_eq(buf, "usage: prog [OPTIONS] ARG\n"
			      "  -n, --namespace NS          the namespace\n"
			      "      --steal                 take connections\n"
			      "                              instead of copying them\n"
			      "      --a-very-long-option-name VALUE\n"
			      "                              help on the next line\n"
			      "  -v                          more logs\n"
			      "  -h, --help                  this text\n"
			      "About.\n");
	free(buf);
}
END_TEST

static Suite *opttab_suite(void)
{
	Suite *s = suite_create("opttab");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, builds_getopt_arrays);
	tcase_add_test(tc, parses_short_long_and_args);
	tcase_add_test(tc, in_order_stops_at_first_argument);
	tcase_add_test(tc, reports_unknown_and_missing);
	tcase_add_test(tc, rejects_bad_tables);
	tcase_add_test(tc, prints_usage_from_the_table);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(opttab_suite)
