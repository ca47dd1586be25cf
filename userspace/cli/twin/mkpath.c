/* mkdir -p for the twin's staging trees. */
#include "mkpath.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

static int mkdir_one(const char *dir)
{
	return mkdir(dir, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

int mkpath(const char *path, bool with_last)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);
	int err = 0;

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p && !err; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		err = mkdir_one(buf);
		*p = '/';
	}
	if (!err && with_last)
		err = mkdir_one(buf);
	return err;
}
