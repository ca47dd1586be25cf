/* Unit tests for mkpath (mkdir -p of the twin's staging trees). */
#include "mkpath.h"
#include "testutil.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

START_TEST(parents_and_last)
{
	char dir[] = "/tmp/bm-mkpath-XXXXXX", path[256], cmd[300];
	struct stat st;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/a/b/c", dir);
	ck_assert_int_eq(mkpath(path, false), 0);
	snprintf(path, sizeof(path), "%s/a/b", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	snprintf(path, sizeof(path), "%s/a/b/c", dir);
	ck_assert_int_eq(stat(path, &st), -1);
	ck_assert_int_eq(mkpath(path, true), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	/* Again: existing directories are fine. */
	ck_assert_int_eq(mkpath(path, true), 0);
	/* A file in the way is an error, not a silent success. */
	snprintf(path, sizeof(path), "%s/file", dir);
	fclose(fopen(path, "w"));
	snprintf(path, sizeof(path), "%s/file/x/y", dir);
	ck_assert_int_eq(mkpath(path, true), -ENOTDIR);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *mkpath_suite(void)
{
	Suite *s = suite_create("mkpath");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, parents_and_last);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(mkpath_suite)
