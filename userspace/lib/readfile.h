/*
 * The one way to read a whole small file into memory with a size limit:
 * kubeconfig, bpfmirror.yaml, token files, the policy, /proc files of a
 * container. Files in /proc report st_size 0, so the size is learned by
 * reading, never trusted from fstat.
 */
#ifndef BPFMIRROR_READFILE_H
#define BPFMIRROR_READFILE_H

#include <stddef.h>

enum readfile_flags {
	/* Refuse anything but a regular file: -EISDIR, or -EINVAL for a FIFO or device. */
	READFILE_REGULAR = 1 << 0,
};

/*
 * Reads PATH (relative to DIRFD, or AT_FDCWD) into a new NUL-terminated
 * buffer of at most MAX bytes (*BUF, free() it; *LEN without the NUL).
 * Returns 0, -EFBIG when the file is larger than MAX, or -errno.
 */
int readfile_at(int dirfd, const char *path, size_t max, int flags, char **buf, size_t *len);

/* The same from an open descriptor (not closed here). */
int readfile_fd(int fd, size_t max, int flags, char **buf, size_t *len);

#endif
