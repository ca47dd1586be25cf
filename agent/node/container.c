/* Finds a container's processes by container ID and reads its environment. */
#include "container.h"
#include "readfile.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ENVIRON_MAX (1u << 20)

const char *container_id_strip(const char *id)
{
	const char *p = strstr(id, "://");

	return p ? p + 3 : id;
}

static int valid_id(const char *id)
{
	size_t n = 0;

	for (; id[n]; n++)
		if (!isxdigit((unsigned char)id[n]))
			return 0;
	return n >= 12 && n <= 64;
}

static int cgroup_has_id(const char *proc_root, const char *pid, const char *id)
{
	char path[PATH_MAX], line[4096];
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/cgroup", proc_root, pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, id) != NULL;
	fclose(f);
	return found;
}

static unsigned long long start_time(const char *proc_root, const char *pid)
{
	char path[PATH_MAX], buf[1024];
	unsigned long long st = ULLONG_MAX;
	char *p;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/stat", proc_root, pid);
	f = fopen(path, "re");
	if (!f)
		return st;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')'))) {
		/* Field 22 (starttime); p points at the end of field 2. */
		int field = 2;
		for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " ")) {
			if (++field == 22) {
				st = strtoull(tok, NULL, 10);
				break;
			}
		}
	}
	fclose(f);
	return st;
}

int container_find_pid(const char *proc_root, const char *container_id, pid_t *pid)
{
	const char *id = container_id_strip(container_id);
	unsigned long long best_start = ULLONG_MAX;
	pid_t best = 0;
	struct dirent *de;
	DIR *d;

	if (!valid_id(id))
		return -EINVAL;
	d = opendir(proc_root);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		unsigned long long st;
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		if (!cgroup_has_id(proc_root, de->d_name, id))
			continue;
		st = start_time(proc_root, de->d_name);
		if (!best || st < best_start) {
			best = (pid_t)atoi(de->d_name);
			best_start = st;
		}
	}
	closedir(d);
	if (!best)
		return -ENOENT;
	*pid = best;
	return 0;
}

int container_read_env(const char *proc_root, pid_t pid, struct container_env *env)
{
	char path[PATH_MAX];
	char *buf = NULL;
	size_t len = 0, count = 0;
	char **vars = NULL;
	int err;

	snprintf(path, sizeof(path), "%s/%d/environ", proc_root, (int)pid);
	err = readfile_at(AT_FDCWD, path, ENVIRON_MAX, 0, &buf, &len);
	if (err)
		return err;
	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\0')
			count++;
	if (len && buf[len - 1] != '\0')
		count++;
	vars = calloc(count + 1, sizeof(*vars));
	if (!vars) {
		err = -ENOMEM;
		goto out;
	}
	env->count = 0;
	for (size_t off = 0; off < len;) {
		size_t l = strnlen(buf + off, len - off);
		if (l > 0 && memchr(buf + off, '=', l)) {
			vars[env->count] = strndup(buf + off, l);
			if (!vars[env->count]) {
				err = -ENOMEM;
				goto out;
			}
			env->count++;
		}
		off += l + 1;
	}
	env->vars = vars;
	vars = NULL;
out:
	if (vars) {
		for (size_t i = 0; vars[i]; i++)
			free(vars[i]);
		free(vars);
		env->count = 0;
	}
	free(buf);
	return err;
}

void container_env_free(struct container_env *env)
{
	if (!env->vars)
		return;
	for (size_t i = 0; i < env->count; i++)
		free(env->vars[i]);
	free(env->vars);
	env->vars = NULL;
	env->count = 0;
}

int container_open_root(const char *proc_root, pid_t pid)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%d/root", proc_root, (int)pid);
	fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int container_check_pod_uid(const char *proc_root, pid_t pid, const char *uid)
{
	char path[PATH_MAX], alt[128], *buf = NULL;
	size_t len = 0;
	int err;

	if (!uid || !uid[0])
		return 0;
	snprintf(alt, sizeof(alt), "%s", uid);
	for (char *c = alt; *c; c++)
		if (*c == '-')
			*c = '_';
	snprintf(path, sizeof(path), "%s/%d/cgroup", proc_root, (int)pid);
	err = readfile_at(AT_FDCWD, path, 1u << 20, 0, &buf, &len);
	if (err)
		return err;
	err = strstr(buf, uid) || strstr(buf, alt) ? 0 : -EPERM;
	free(buf);
	return err;
}

int container_check_namespace(const char *pod_logs, const char *ns, const char *pod,
			      const char *uid)
{
	char path[PATH_MAX];
	struct stat st;

	if (!pod_logs || stat(pod_logs, &st) < 0 || !S_ISDIR(st.st_mode))
		return -ENOENT;
	if (strchr(ns, '/') || strchr(pod, '/') || strchr(uid, '/') || !ns[0] || !pod[0] || !uid[0])
		return -EPERM;
	snprintf(path, sizeof(path), "%s/%s_%s_%s", pod_logs, ns, pod, uid);
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -EPERM;
}
