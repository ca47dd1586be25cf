/* File access confined to a container's root: symlinks and ".." cannot escape. */
#include "fsconfine.h"

#include <dirent.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
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
	    .flags = (uint64_t)(flags | O_CLOEXEC),
	    .mode = (flags & O_CREAT) ? mode : 0,
	    /* PATH is canonical (fsc_canonical): a symlink met now was put
	     * there after the policy looked at the path, so refuse it. */
	    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS,
	};
	long fd;

	while (*path == '/')
		path++;
	if (*path == '\0')
		path = ".";
	fd = syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
	return fd < 0 ? -errno : (int)fd;
}

int fsc_canonical(int root_fd, const char *path, char *out, size_t outlen)
{
	char rest[2 * PATH_MAX], cur[PATH_MAX] = "", cand[PATH_MAX + NAME_MAX + 2];
	char target[PATH_MAX], comp[NAME_MAX + 1];
	const char *p;
	int hops = 0;

	if (strlen(path) >= PATH_MAX)
		return -ENAMETOOLONG;
	snprintf(rest, sizeof(rest), "%s", path);
	p = rest;
	while (*p) {
		struct stat st;
		size_t n;
		ssize_t l;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		n = strcspn(p, "/");
		if (n > NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(comp, p, n);
		comp[n] = '\0';
		p += n;
		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			char *sl = strrchr(cur, '/');
			if (sl)
				*sl = '\0';
			continue;
		}
		snprintf(cand, sizeof(cand), "%s/%s", cur, comp);
		if (strlen(cand) >= PATH_MAX)
			return -ENAMETOOLONG;
		/* CUR holds no symlink and no "..": this stays inside the root. */
		if (fstatat(root_fd, cand + 1, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				return -errno;
			memcpy(cur, cand, strlen(cand) + 1); /* a file yet to exist */
			continue;
		}
		if (!S_ISLNK(st.st_mode)) {
			memcpy(cur, cand, strlen(cand) + 1); /* shorter than PATH_MAX: checked */
			continue;
		}
		if (++hops > 40)
			return -ELOOP;
		l = readlinkat(root_fd, cand + 1, target, sizeof(target) - 1);
		if (l < 0)
			return -errno;
		target[l] = '\0';
		if (target[0] == '/')
			cur[0] = '\0'; /* absolute links start again at the container's root */
		if ((size_t)l + strlen(p) + 2 > sizeof(rest))
			return -ENAMETOOLONG;
		{
			/* The link's target, then what was left of the path. */
			char next[2 * PATH_MAX];
			size_t pl = strlen(p);
			memcpy(next, target, (size_t)l);
			next[l] = '/';
			memcpy(next + l + 1, p, pl + 1);
			memcpy(rest, next, (size_t)l + pl + 2);
		}
		p = rest;
	}
	if (strlen(cur) + 2 > outlen)
		return -ENAMETOOLONG;
	snprintf(out, outlen, "%s", cur[0] ? cur : "/");
	return 0;
}

/* Opens a regular file without blocking on FIFOs or devices a container holds. */
static int open_regular(int root_fd, const char *path, int flags)
{
	struct stat st;
	int fd = fsc_open(root_fd, path, flags | O_NONBLOCK, 0);

	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	}
	if (fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
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
	fd = open_regular(root_fd, path, O_RDONLY);
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

	fd = open_regular(root_fd, path, O_WRONLY);
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
