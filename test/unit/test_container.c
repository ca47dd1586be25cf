/* Unit tests for container lookup (fake /proc tree) and confined file access. */
#include "container.h"
#include "fsconfine.h"
#include "podpeer.h"
#include "testutil.h"
#include "unit/privnetns.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char tmp[64];

static void put(const char *rel, const void *data, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmp, rel);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void mkd(const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", tmp, rel);
	ck_assert_int_eq(mkdir(path, 0755), 0);
}

static void setup(void)
{
	strcpy(tmp, "/tmp/bmtest.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	ck_assert_int_eq(system(cmd), 0);
}

static void fake_proc(const char *pid, const char *cgroup, unsigned long start)
{
	char rel[64], stat[256];

	snprintf(rel, sizeof(rel), "%s", pid);
	mkd(rel);
	snprintf(rel, sizeof(rel), "%s/cgroup", pid);
	put(rel, cgroup, strlen(cgroup));
	snprintf(stat, sizeof(stat),
		 "%s (my proc) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %lu 0 0\n", pid, start);
	snprintf(rel, sizeof(rel), "%s/stat", pid);
	put(rel, stat, strlen(stat));
}

START_TEST(find_pid_picks_oldest)
{
	const char *cg = "0::/kubepods.slice/kubepods-besteffort.slice/"
			 "cri-containerd-" CID ".scope\n";
	pid_t pid = 0;

	fake_proc("100", "0::/user.slice\n", 5);
	fake_proc("200", cg, 900);
	fake_proc("150", cg, 300);
	ck_assert_int_eq(container_find_pid(tmp, "containerd://" CID, &pid), 0);
	ck_assert_int_eq(pid, 150);
}
END_TEST

START_TEST(find_pid_errors)
{
	pid_t pid = 0;

	fake_proc("100", "0::/user.slice\n", 5);
	ck_assert_int_eq(container_find_pid(tmp, CID, &pid), -ENOENT);
	ck_assert_int_eq(container_find_pid(tmp, "containerd://xyz", &pid), -EINVAL);
	ck_assert_int_eq(container_find_pid(tmp, "abc", &pid), -EINVAL);
	ck_assert_int_eq(container_find_pid(tmp, "", &pid), -EINVAL);
}
END_TEST

START_TEST(read_env)
{
	static const char env[] = "PORT=8080\0REDISADDRESS=redis-main:6379\0noequals\0A=";
	struct container_env e = {0};

	mkd("42");
	put("42/environ", env, sizeof(env) - 1);
	ck_assert_int_eq(container_read_env(tmp, 42, &e), 0);
	ck_assert_uint_eq(e.count, 3);
	ck_assert_str_eq(e.vars[0], "PORT=8080");
	ck_assert_str_eq(e.vars[1], "REDISADDRESS=redis-main:6379");
	ck_assert_str_eq(e.vars[2], "A=");
	container_env_free(&e);
	ck_assert_int_eq(container_read_env(tmp, 43, &e), -ENOENT);
}
END_TEST

START_TEST(confined_symlinks)
{
	char path[512], canon[4096], *buf = NULL;
	size_t len = 0;
	struct stat st;
	int root;

	/* Layout: tmp/outside.txt, tmp/root/app/response.txt, evil links. */
	put("outside.txt", "secret", 6);
	mkd("root");
	mkd("root/app");
	put("root/app/response.txt", "hello", 5);
	snprintf(path, sizeof(path), "%s/root/app/abs", tmp);
	ck_assert_int_eq(symlink("/outside.txt", path), 0);
	snprintf(path, sizeof(path), "%s/root/app/rel", tmp);
	ck_assert_int_eq(symlink("../../outside.txt", path), 0);
	snprintf(path, sizeof(path), "%s/root/app/ok", tmp);
	ck_assert_int_eq(symlink("/app/response.txt", path), 0);
	snprintf(path, sizeof(path), "%s/root", tmp);
	root = open(path, O_PATH | O_DIRECTORY);
	ck_assert_int_ge(root, 0);

	ck_assert_int_eq(fsc_read(root, "/app/response.txt", 0, 100, &buf, &len), 0);
	ck_assert_uint_eq(len, 5);
	ck_assert_int_eq(memcmp(buf, "hello", 5), 0);
	free(buf);
	/* Symlinks are resolved first, inside the root; opening one is refused
	 * (a link swapped in after the policy check must not be followed). */
	ck_assert_int_eq(fsc_read(root, "/app/ok", 1, 2, &buf, &len), -ELOOP);
	ck_assert_int_eq(fsc_canonical(root, "/app/ok", canon, sizeof(canon)), 0);
	ck_assert_str_eq(canon, "/app/response.txt");
	ck_assert_int_eq(fsc_read(root, canon, 1, 2, &buf, &len), 0);
	ck_assert_uint_eq(len, 2);
	ck_assert_int_eq(memcmp(buf, "el", 2), 0);
	free(buf);
	/* Escapes resolve inside root, where there is no outside.txt. */
	ck_assert_int_eq(fsc_canonical(root, "/app/abs", canon, sizeof(canon)), 0);
	ck_assert_str_eq(canon, "/outside.txt");
	ck_assert_int_eq(fsc_read(root, canon, 0, 100, &buf, &len), -ENOENT);
	ck_assert_int_eq(fsc_canonical(root, "/app/rel", canon, sizeof(canon)), 0);
	ck_assert_str_eq(canon, "/outside.txt");
	ck_assert_int_eq(
	    fsc_canonical(root, "/../../app/./x/../response.txt", canon, sizeof(canon)), 0);
	ck_assert_str_eq(canon, "/app/response.txt");
	snprintf(path, sizeof(path), "%s/root/app/loop", tmp);
	ck_assert_int_eq(symlink("/app/loop", path), 0);
	ck_assert_int_eq(fsc_canonical(root, "/app/loop", canon, sizeof(canon)), -ELOOP);
	/* A FIFO would block a reader: refused at once. */
	snprintf(path, sizeof(path), "%s/root/app/fifo", tmp);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(fsc_read(root, "/app/fifo", 0, 100, &buf, &len), -EINVAL);
	ck_assert_int_eq(fsc_stat(root, "/../../outside.txt", &st), -ENOENT);
	ck_assert_int_eq(fsc_stat(root, "/app", &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	close(root);
}
END_TEST

START_TEST(confined_write_and_list)
{
	char path[512], *buf = NULL;
	struct fsc_entry *ents = NULL;
	size_t len = 0, n = 0;
	int root;

	mkd("root");
	put("root/f.txt", "abcdef", 6);
	snprintf(path, sizeof(path), "%s/root", tmp);
	root = open(path, O_PATH | O_DIRECTORY);
	ck_assert_int_ge(root, 0);
	ck_assert_int_eq(fsc_write(root, "/f.txt", 2, "XY", 2, 1), 0);
	ck_assert_int_eq(fsc_read(root, "/f.txt", 0, 100, &buf, &len), 0);
	ck_assert_uint_eq(len, 4);
	ck_assert_int_eq(memcmp(buf, "abXY", 4), 0);
	free(buf);
	ck_assert_int_eq(fsc_write(root, "/missing", 0, "x", 1, 0), -ENOENT);
	ck_assert_int_eq(fsc_list(root, "/", &ents, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(ents[0].name, "f.txt");
	fsc_entries_free(ents, n);
	ck_assert_int_eq(fsc_list(root, "/f.txt", &ents, &n), -ENOTDIR);
	close(root);
}
END_TEST

START_TEST(path_policy)
{
	const char *const deny[] = {"/var/run/secrets/*", "/etc/shadow", NULL};

	ck_assert_int_eq(fsc_path_check("/app/response.txt", deny), 0);
	ck_assert_int_eq(fsc_path_check("/var/run/secrets/kubernetes.io/token", deny), -EACCES);
	ck_assert_int_eq(fsc_path_check("/etc/shadow", deny), -EACCES);
	ck_assert_int_eq(fsc_path_check("/var//run/secrets/x", deny), -EINVAL);
	ck_assert_int_eq(fsc_path_check("/var/run/./secrets/x", deny), -EINVAL);
	ck_assert_int_eq(fsc_path_check("/app/../etc/shadow", deny), -EINVAL);
	ck_assert_int_eq(fsc_path_check("relative", deny), -EINVAL);
	ck_assert_int_eq(fsc_path_check("", deny), -EINVAL);
	ck_assert_int_eq(fsc_path_check("/app/..hidden", deny), 0);
}
END_TEST

#define UID  "1b2c3d4e-0000-4111-8222-123456789abc"
#define UID_ "1b2c3d4e_0000_4111_8222_123456789abc"

/* Every claim the node cannot confirm is refused (issue 11, item 6). */
START_TEST(pod_uid_fails_closed)
{
	char proc[128];

	snprintf(proc, sizeof(proc), "%s", tmp);
	fake_proc("100", "0::/kubepods.slice/kubepods-besteffort-pod" UID_ ".slice/cri-x.scope\n",
		  1);
	fake_proc("101", "0::/kubepods/burstable/pod" UID "/" CID "\n", 1);
	fake_proc("102", "0::/kubepods/burstable/pod" UID "0/" CID "\n", 1);
	ck_assert_int_eq(container_check_pod_uid(proc, 100, UID), 0);
	ck_assert_int_eq(container_check_pod_uid(proc, 101, UID), 0);
	/* Not a UID at all: nothing to verify, so no. */
	ck_assert_int_eq(container_check_pod_uid(proc, 100, ""), -EINVAL);
	ck_assert_int_eq(container_check_pod_uid(proc, 100, NULL), -EINVAL);
	ck_assert_int_eq(container_check_pod_uid(proc, 100, "1b2c"), -EINVAL);
	ck_assert_int_eq(container_check_pod_uid(proc, 100, UID "/x"), -EINVAL);
	/* Another pod's UID, or ours as a prefix of a longer name. */
	ck_assert_int_eq(container_check_pod_uid(proc, 100, "ffffffff-0000-4111-8222-123456789abc"),
			 -EPERM);
	ck_assert_int_eq(container_check_pod_uid(proc, 102, UID), -EPERM);
	/* No cgroup file to read: an error, never a pass. */
	ck_assert_int_eq(container_check_pod_uid(proc, 999, UID), -ENOENT);
}
END_TEST

START_TEST(namespace_fails_closed)
{
	char logs[128], missing[160];

	snprintf(logs, sizeof(logs), "%s/pods", tmp);
	snprintf(missing, sizeof(missing), "%s/nothing", tmp);
	mkd("pods");
	mkd("pods/team-a_web-0_" UID);
	ck_assert_int_eq(container_check_namespace(logs, "team-a", "web-0", UID), 0);
	/* kubelet's directory missing: unverifiable, the caller refuses. */
	ck_assert_int_eq(container_check_namespace(missing, "team-a", "web-0", UID), -ENOENT);
	ck_assert_int_eq(container_check_namespace(NULL, "team-a", "web-0", UID), -ENOENT);
	ck_assert_int_eq(container_check_namespace("", "team-a", "web-0", UID), -ENOENT);
	/* Another namespace, pod or UID than the node knows. */
	ck_assert_int_eq(container_check_namespace(logs, "team-b", "web-0", UID), -EPERM);
	ck_assert_int_eq(container_check_namespace(logs, "team-a", "web-1", UID), -EPERM);
	ck_assert_int_eq(container_check_namespace(logs, "team-a", "web-0",
						   "ffffffff-0000-4111-8222-123456789abc"),
			 -EPERM);
	/* Names that could shift kubelet's '_' separators or leave the directory. */
	ck_assert_int_eq(container_check_namespace(logs, "team", "a_web-0", UID), -EPERM);
	ck_assert_int_eq(container_check_namespace(logs, "..", "web-0", UID), -EPERM);
	ck_assert_int_eq(container_check_namespace(logs, "team-a/..", "web-0", UID), -EPERM);
	ck_assert_int_eq(container_check_namespace(logs, "", "web-0", UID), -EPERM);
	ck_assert_int_eq(container_check_namespace(logs, "team-a", "web-0", ""), -EPERM);
}
END_TEST

/* A "pod": a child in its own network namespace, stopped until the test ends. */
static pid_t pod_start(int *gate)
{
	int p[2];
	pid_t pid;
	char c;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[1]);
		if (unshare(CLONE_NEWNET))
			_exit(1);
		(void)!read(p[0], &c, 1); /* until the test closes the gate */
		_exit(0);
	}
	close(p[0]);
	*gate = p[1];
	return pid;
}

static void sh(const char *fmt, pid_t pid)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), fmt, (int)pid, (int)pid);
	ck_assert_msg(system(cmd) == 0, "%s", cmd);
}

/*
 * podpeer_lookup() accepts only an address on a veth whose peer is in the
 * agent's namespace: an address on the pod's lo, or on a veth pair inside
 * the pod (whose peer index could name any link here), is refused.
 */
START_TEST(pod_peer_fails_closed)
{
	static const char *const none[] = {NULL};
	int gate, veth = 0;
	pid_t pod;

	ck_assert_int_eq(test_private_netns(none), 0);
	pod = pod_start(&gate);
	usleep(100000); /* the child's unshare */
	/* The pod's inner pair reuses our link's index 30: only the namespace tells them apart. */
	sh("ip link add bmpp0 index 30 type veth peer name bmpp1 netns %d && ip link set bmpp0 up "
	   "&& "
	   "nsenter -t %d -n sh -c 'ip link set lo up && ip link set bmpp1 up && "
	   "ip addr add 10.77.0.2/24 dev bmpp1 && ip addr add 10.77.0.3/32 dev lo && "
	   "ip link add bmpp3 index 30 type veth peer name bmpp2 && ip addr add 10.77.1.2/24 dev "
	   "bmpp2'",
	   pod);
	ck_assert_int_eq(podpeer_lookup("/proc", pod, "10.77.0.2", &veth), 0);
	ck_assert_int_eq(veth, 30);
	ck_assert_int_eq(veth, (int)if_nametoindex("bmpp0"));
	veth = -1;
	ck_assert_int_eq(podpeer_lookup("/proc", pod, "10.77.0.3", &veth), -ENOENT);
	ck_assert_int_eq(podpeer_lookup("/proc", pod, "10.77.1.2", &veth), -EXDEV);
	ck_assert_int_eq(podpeer_lookup("/proc", pod, "10.77.0.9", &veth), -EADDRNOTAVAIL);
	ck_assert_int_eq(podpeer_lookup("/proc", pod, "fd00::1", &veth), -EAFNOSUPPORT);
	ck_assert_int_eq(podpeer_lookup("/proc", 999999, "10.77.0.2", &veth), -ENOENT);
	ck_assert_int_eq(veth, -1);
	close(gate);
	waitpid(pod, NULL, 0);
}
END_TEST

static Suite *container_suite(void)
{
	Suite *s = suite_create("container");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, find_pid_picks_oldest);
	tcase_add_test(tc, find_pid_errors);
	tcase_add_test(tc, read_env);
	tcase_add_test(tc, confined_symlinks);
	tcase_add_test(tc, confined_write_and_list);
	tcase_add_test(tc, path_policy);
	tcase_add_test(tc, pod_uid_fails_closed);
	tcase_add_test(tc, namespace_fails_closed);
	tcase_add_test(tc, pod_peer_fails_closed);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(container_suite)
