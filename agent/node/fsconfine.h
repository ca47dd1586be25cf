/* File access confined to a container's root: symlinks and ".." cannot escape. */
#ifndef BPFMIRROR_FSCONFINE_H
#define BPFMIRROR_FSCONFINE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/* Upper bound on one read reply and on one listing, to bound agent memory. */
#define FSC_READ_MAX (4u << 20)
#define FSC_LIST_MAX 4096u

/*
 * Resolves PATH inside the container's root the way the container would
 * (symlinks, absolute ones from its root, and ".." never above it) into a
 * canonical absolute path without symlinks: what the policy must judge.
 * A missing tail is kept as given. Returns 0, -ELOOP, -ENAMETOOLONG, -errno.
 */
int fsc_canonical(int root_fd, const char *path, char *out, size_t outlen);

/*
 * Opens a CANONICAL path (from fsc_canonical) relative to root_fd with
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS): a
 * symlink swapped in after the check fails with -ELOOP instead of being
 * followed. fsc_read/fsc_write open regular files only (a FIFO would block).
 * Returns an fd or -errno.
 */
int fsc_open(int root_fd, const char *path, int flags, mode_t mode);

int fsc_stat(int root_fd, const char *path, struct stat *st);
/* Reads up to max bytes from offset into a malloc'd *buf. */
int fsc_read(int root_fd, const char *path, uint64_t offset, size_t max, char **buf, size_t *len);
/* Writes data at offset (truncate: set the file size to offset + len first). */
int fsc_write(int root_fd, const char *path, uint64_t offset, const void *data, size_t len,
	      int truncate);

struct fsc_entry {
	char *name;
	unsigned char type; /* DT_* */
};
int fsc_list(int root_fd, const char *path, struct fsc_entry **entries, size_t *count);
void fsc_entries_free(struct fsc_entry *entries, size_t count);

/*
 * Checks a path a client asked for: absolute, no NUL, at most PATH_MAX, and not
 * matching any of the fnmatch(3) patterns in deny (NULL-terminated; "*" also
 * matches "/", so "/var/run/secrets*" covers the tree). Paths must be in
 * normal form (no "//", "." or ".." components) so patterns cannot be dodged.
 * Returns 0, -EINVAL or -EACCES.
 */
int fsc_path_check(const char *path, const char *const *deny);

#endif
