/* mkdir -p for the twin's staging trees. */
#ifndef BPFMIRROR_MKPATH_H
#define BPFMIRROR_MKPATH_H

#include <stdbool.h>

/*
 * Creates every missing directory on PATH (mode 0755): the parents only, or
 * with WITH_LAST the last component too. Existing directories are fine.
 * Returns 0, -ENAMETOOLONG or the -errno of the mkdir that failed.
 */
int mkpath(const char *path, bool with_last);

#endif
