/* Finds a container's processes by container ID and reads its environment. */
#ifndef BPFMIRROR_CONTAINER_H
#define BPFMIRROR_CONTAINER_H

#include <stddef.h>
#include <sys/types.h>

/* Strips a "containerd://", "cri-o://", "docker://" prefix; returns the ID part. */
const char *container_id_strip(const char *id);

/*
 * Finds the oldest process whose cgroup path (in PROC/PID/cgroup) contains the
 * container ID (at least 12 hex characters). proc_root is "/proc" outside tests.
 * Returns 0 and sets *pid, -ENOENT when none, -EINVAL for a malformed ID.
 */
int container_find_pid(const char *proc_root, const char *container_id, pid_t *pid);

/* Environment of a process as a NULL-terminated array of "KEY=VALUE" strings. */
struct container_env {
	char **vars;
	size_t count;
};

int container_read_env(const char *proc_root, pid_t pid, struct container_env *env);
void container_env_free(struct container_env *env);

/* Opens PROC/PID/root as an O_PATH directory fd: the root for confined access. */
int container_open_root(const char *proc_root, pid_t pid);

/*
 * Checks that process PID belongs to the pod with UID: kubelet names the pod's
 * cgroup "pod<UID>" (with '-' or '_'). Returns 0, -EINVAL when UID is not a
 * pod UID (empty included: nothing unverified passes), -EPERM when the
 * cgroup names no such pod, or -errno when the cgroup cannot be read.
 */
int container_check_pod_uid(const char *proc_root, pid_t pid, const char *uid);

/*
 * Checks the pod's namespace where the node keeps kubelet's pod log
 * directories (POD_LOGS/<namespace>_<pod>_<uid>): a client cannot claim
 * another namespace than its pod's. Returns 0, -EPERM when the directory
 * for that namespace does not exist (or a name cannot be part of it), or
 * -ENOENT when POD_LOGS itself does not exist. Callers refuse both.
 */
int container_check_namespace(const char *pod_logs, const char *ns, const char *pod,
			      const char *uid);

#endif
