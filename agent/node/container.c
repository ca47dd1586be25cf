/* Finds a container's processes by container ID and reads its environment. */
#include "container.h"
#include "readfile.h"

#include <ctype.h>
#include <stdbool.h>
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

/* A pod UID as kubelet uses it: a UUID, or a static pod's 32-hex config hash. */
static bool uid_ok(const char *uid)
{
	size_t n = strlen(uid);

	if (n < 32 || n > 36)
		return false;
	for (const char *c = uid; *c; c++)
		if (!isxdigit((unsigned char)*c) && *c != '-')
			return false;
	return true;
}

/* Is "pod<uid>" a whole name in the cgroup paths of TEXT (followed by '/', '.' or the end)? */
static bool has_pod_cgroup(const char *text, const char *uid)
{
	size_t n = strlen(uid);

	for (const char *p = strstr(text, uid); p; p = strstr(p + 1, uid)) {
		char after = p[n];
		if (p - text >= 3 && strncmp(p - 3, "pod", 3) == 0 &&
		    (after == '/' || after == '.' || after == '\n' || after == '\0'))
			return true;
	}
	return false;
}

int container_check_pod_uid(const char *proc_root, pid_t pid, const char *uid)
{
	char path[PATH_MAX], alt[64], *buf = NULL;
	size_t len = 0;
	int err;

	if (!uid || !uid_ok(uid))
		return -EINVAL;
	snprintf(alt, sizeof(alt), "%s", uid);
	for (char *c = alt; *c; c++)
		if (*c == '-')
			*c = '_';
	snprintf(path, sizeof(path), "%s/%d/cgroup", proc_root, (int)pid);
	err = readfile_at(AT_FDCWD, path, 1u << 20, 0, &buf, &len);
	if (err)
		return err;
	err = has_pod_cgroup(buf, uid) || has_pod_cgroup(buf, alt) ? 0 : -EPERM;
	free(buf);
	return err;
}

/* A namespace or pod name as part of a pod log directory: no '/' or '_' (kubelet's separator). */
static bool name_ok(const char *s)
{
	return s && s[0] && !strpbrk(s, "/_") && strcmp(s, ".") && strcmp(s, "..");
}

int container_check_namespace(const char *pod_logs, const char *ns, const char *pod,
			      const char *uid)
{
	char path[PATH_MAX];
	struct stat st;

	if (!pod_logs || !pod_logs[0] || stat(pod_logs, &st) < 0 || !S_ISDIR(st.st_mode))
		return -ENOENT;
	if (!name_ok(ns) || !name_ok(pod) || !uid || !uid_ok(uid))
		return -EPERM;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s_%s_%s", pod_logs, ns, pod, uid) >=
	    sizeof(path))
		return -EPERM;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -EPERM;
}
