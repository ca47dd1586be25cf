/* Reads a whole small file with a size limit. */
#include "readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int readfile_fd(int fd, size_t max, int flags, char **buf, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *data = NULL, *tmp;
	struct stat st;
	int err = 0;

	if (flags & READFILE_REGULAR) {
		if (fstat(fd, &st) < 0)
			return -errno;
		if (!S_ISREG(st.st_mode))
			return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	}
	if (max > SIZE_MAX / 4)
		return -EINVAL;
	if (cap > max + 1)
		cap = max + 1;
	data = malloc(cap + 1);
	if (!data)
		return -ENOMEM;
	for (;;) {
		ssize_t r;

		if (n == cap) {
			/* One byte past MAX is read to tell "exactly MAX" from "more". */
			if (cap > max) {
				err = -EFBIG;
				goto out;
			}
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			tmp = realloc(data, cap + 1);
			if (!tmp) {
				err = -ENOMEM;
				goto out;
			}
			data = tmp;
		}
		r = read(fd, data + n, cap - n);
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
	if (n > max) {
		err = -EFBIG;
		goto out;
	}
	data[n] = '\0';
	*buf = data;
	*len = n;
	data = NULL;
out:
	free(data);
	return err;
}

int readfile_at(int dirfd, const char *path, size_t max, int flags, char **buf, size_t *len)
{
	int fd, err;

	/* O_NONBLOCK: opening a FIFO must not wait for a writer. */
	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	err = readfile_fd(fd, max, flags, buf, len);
	close(fd);
	return err;
}
