/* Shared helpers for the Check unit tests: one suite per file, one main. */
#ifndef BPFMIRROR_TESTUTIL_H
#define BPFMIRROR_TESTUTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Runs SUITE and returns the process exit status (0 when all pass). */
static inline int test_run_suite(Suite *suite)
{
	SRunner *sr = srunner_create(suite);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* Exit status 77 (skipped) unless root: BPF and namespace tests. */
static inline int test_need_root(const char *name)
{
	if (geteuid() == 0)
		return 0;
	fprintf(stderr, "%s: needs root (BPF), skipping\n", name);
	return 77;
}

/* Defines main() running the suite returned by FN; exit 0 when all pass. */
#define TEST_MAIN(fn)                                                                              \
	int main(void)                                                                             \
	{                                                                                          \
		return test_run_suite(fn());                                                       \
	}

/* The same for tests that need root: exit 77 (skipped) otherwise. */
#define TEST_MAIN_ROOT(fn, name)                                                                   \
	int main(void)                                                                             \
	{                                                                                          \
		return test_need_root(name) ?: test_run_suite(fn());                               \
	}

#endif
