/* Unit tests for the bounded whole-file reader. */
#include "readfile.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

static char dir[] = "/tmp/bm-readfile-XXXXXX";

static void write_file(const char *name, size_t n)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	for (size_t i = 0; i < n; i++)
		fputc('a' + (int)(i % 26), f);
	fclose(f);
}

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(dir, "/tmp/bm-readfile-XXXXXX");
}

START_TEST(reads_up_to_the_limit)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	char *buf = NULL;
	size_t len = 0;

	write_file("exact", 10000);
	ck_assert_int_eq(readfile_at(dfd, "exact", 10000, READFILE_REGULAR, &buf, &len), 0);
	ck_assert_uint_eq(len, 10000);
	ck_assert_int_eq(buf[len], '\0');
	ck_assert_int_eq(buf[26], 'a');
	free(buf);
	ck_assert_int_eq(readfile_at(dfd, "exact", 9999, 0, &buf, &len), -EFBIG);
	write_file("empty", 0);
	ck_assert_int_eq(readfile_at(dfd, "empty", 0, 0, &buf, &len), 0);
	ck_assert_uint_eq(len, 0);
	free(buf);
	ck_assert_int_eq(readfile_at(dfd, "missing", 10, 0, &buf, &len), -ENOENT);
	close(dfd);
}
END_TEST

START_TEST(proc_files_and_non_regular)
{
	char *buf = NULL, path[300];
	size_t len = 0;

	/* st_size is 0 in /proc: the size comes from reading. */
	ck_assert_int_eq(readfile_at(AT_FDCWD, "/proc/self/status", 1 << 20, 0, &buf, &len), 0);
	ck_assert_ptr_nonnull(strstr(buf, "Pid:"));
	free(buf);
	ck_assert_int_eq(readfile_at(AT_FDCWD, dir, 100, READFILE_REGULAR, &buf, &len), -EISDIR);
	snprintf(path, sizeof(path), "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	/* A FIFO without a writer neither blocks nor passes as a file. */
	ck_assert_int_eq(readfile_at(AT_FDCWD, path, 100, READFILE_REGULAR, &buf, &len), -EINVAL);
}
END_TEST

static Suite *readfile_suite(void)
{
	Suite *s = suite_create("readfile");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, reads_up_to_the_limit);
	tcase_add_test(tc, proc_files_and_non_regular);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(readfile_suite)
