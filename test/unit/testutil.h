/* Shared helpers for the Check unit tests: one suite per file, one main. */
#ifndef BPFMIRROR_TESTUTIL_H
#define BPFMIRROR_TESTUTIL_H

#include <check.h>
#include <stdlib.h>

/* Defines main() running the suite returned by FN; exit 0 when all pass. */
#define TEST_MAIN(fn)                                                                              \
	int main(void)                                                                             \
	{                                                                                          \
		SRunner *sr = srunner_create(fn());                                                \
		int failed;                                                                        \
		srunner_run_all(sr, CK_NORMAL);                                                    \
		failed = srunner_ntests_failed(sr);                                                \
		srunner_free(sr);                                                                  \
		return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;                                  \
	}

#endif
