/* File access confined to a container's root: symlinks and ".." cannot escape. */
#include "fsconfine.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

int fsc_open(int root_fd, const char *path, int flags, mode_t mode)
{
	struct open_how how = {
	    .flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
	    .mode = (flags & O_CREAT) ? mode : 0,
	    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	long fd;

	/* O_NOFOLLOW only applies to the last component; that is intended:
	 * the file itself may be a symlink only if it resolves inside root,
	 * which RESOLVE_IN_ROOT guarantees. Drop it to allow such links. */
	how.flags &= ~(uint64_t)O_NOFOLLOW;
	while (*path == '/')
		path++;
	if (*path == '\0')
		path = ".";
	fd = syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
	return fd < 0 ? -errno : (int)fd;
}

int fsc_stat(int root_fd, const char *path, struct stat *st)
{
	int fd = fsc_open(root_fd, path, O_PATH, 0);
	int err = 0;

	if (fd < 0)
		return fd;
	if (fstat(fd, st) < 0)
		err = -errno;
	close(fd);
	return err;
}

int fsc_read(int root_fd, const char *path, uint64_t offset, size_t max, char **buf, size_t *len)
{
	char *data = NULL;
	size_t n = 0;
	int fd, err = 0;

	if (max > FSC_READ_MAX)
		max = FSC_READ_MAX;
	fd = fsc_open(root_fd, path, O_RDONLY, 0);
	if (fd < 0)
		return fd;
	data = malloc(max ? max : 1);
	if (!data) {
		err = -ENOMEM;
		goto out;
	}
	while (n < max) {
		ssize_t r = pread(fd, data + n, max - n, (off_t)(offset + n));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*buf = data;
	*len = n;
	data = NULL;
out:
	free(data);
	close(fd);
	return err;
}

int fsc_write(int root_fd, const char *path, uint64_t offset, const void *data, size_t len,
	      int truncate)
{
	size_t n = 0;
	int fd, err = 0;

	fd = fsc_open(root_fd, path, O_WRONLY, 0);
	if (fd < 0)
		return fd;
	if (truncate && ftruncate(fd, (off_t)(offset + len)) < 0) {
		err = -errno;
		goto out;
	}
	while (n < len) {
		ssize_t w = pwrite(fd, (const char *)data + n, len - n, (off_t)(offset + n));
		if (w < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto out;
		}
		n += (size_t)w;
	}
out:
	close(fd);
	return err;
}

void fsc_entries_free(struct fsc_entry *entries, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(entries[i].name);
	free(entries);
}

int fsc_list(int root_fd, const char *path, struct fsc_entry **entries, size_t *count)
{
	struct fsc_entry *list = NULL;
	size_t n = 0;
	struct dirent *de;
	DIR *d = NULL;
	int fd, err = 0;

	fd = fsc_open(root_fd, path, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return fd;
	d = fdopendir(fd);
	if (!d) {
		err = -errno;
		close(fd);
		return err;
	}
	list = calloc(FSC_LIST_MAX, sizeof(*list));
	if (!list) {
		err = -ENOMEM;
		goto out;
	}
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == FSC_LIST_MAX) {
			err = -E2BIG;
			goto out;
		}
		list[n].name = strdup(de->d_name);
		if (!list[n].name) {
			err = -ENOMEM;
			goto out;
		}
		list[n].type = de->d_type;
		n++;
	}
	*entries = list;
	*count = n;
	list = NULL;
out:
	if (list)
		fsc_entries_free(list, n);
	closedir(d);
	return err;
}

int fsc_path_check(const char *path, const char *const *deny)
{
	size_t len = strnlen(path, PATH_MAX + 1);

	if (len == 0 || len > PATH_MAX || path[0] != '/')
		return -EINVAL;
	/* "..", "." and "//" are harmless under RESOLVE_IN_ROOT but would let a
	 * client dodge the deny patterns, so only normal forms are accepted. */
	for (const char *c = path; *c; c++) {
		const char *next;
		if (*c != '/')
			continue;
		next = c + 1;
		if (*next == '/')
			return -EINVAL;
		if (next[0] == '.' && (next[1] == '/' || next[1] == '\0'))
			return -EINVAL;
		if (next[0] == '.' && next[1] == '.' && (next[2] == '/' || next[2] == '\0'))
			return -EINVAL;
	}
	for (size_t i = 0; deny && deny[i]; i++) {
		if (fnmatch(deny[i], path, 0) == 0)
			return -EACCES;
	}
	return 0;
}
