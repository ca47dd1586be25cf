/* Unit tests for the twin: the pod's identity, files, resolv.conf and network as the command sees
 * them. */
#include "testtwin.h"
#include "testutil.h"

#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/stat.h>

static char files[64], resolv[96];

/* A staged container file (/bmtest-app/conf.txt: "hello") and a resolv.conf. */
static void stage(void)
{
	char path[128];
	FILE *f;

	snprintf(files, sizeof(files), "/tmp/bm-files-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(files));
	snprintf(path, sizeof(path), "%s/bmtest-app", files);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/bmtest-app/conf.txt", files);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("hello", f);
	fclose(f);
	snprintf(resolv, sizeof(resolv), "%s/resolv.conf", files);
	f = fopen(resolv, "w");
	ck_assert_ptr_nonnull(f);
	fputs("nameserver 10.96.0.10\n", f);
	fclose(f);
}

static void unstage(void)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", files);
	ck_assert_int_eq(system(cmd), 0);
}

/* Reads the tun until a UDP packet from the pod's address to 10.1.2.3:5353 comes. */
static bool tun_sees_probe(int tun, int timeout_ms)
{
	static const uint8_t src[4] = {10, 99, 0, 5}, dst[4] = {10, 1, 2, 3};
	uint8_t p[2048];

	for (int waited = 0; waited < timeout_ms; waited += 100) {
		struct pollfd pfd = {.fd = tun, .events = POLLIN};
		ssize_t n;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		while ((n = read(tun, p, sizeof(p))) > 0) {
			size_t ihl = (size_t)(p[0] & 15) * 4;

			if (n < 28 || (p[0] >> 4) != 4 || p[9] != 17 || (size_t)n < ihl + 8)
				continue;
			if (!memcmp(p + 12, src, 4) && !memcmp(p + 16, dst, 4) &&
			    (p[ihl + 2] << 8 | p[ihl + 3]) == 5353)
				return true;
		}
	}
	return false;
}

/*
 * The command checks what it sees and, only if all holds, sends a UDP probe,
 * which must come out of the twin's tun with the pod's address as source.
 */
START_TEST(command_sees_the_pod)
{
	static char *const env[] = {"PATH=/usr/bin:/bin", "FOO=bar", NULL};
	char *const argv[] = {"/bin/bash", "-c",
			      "test \"$(cat /proc/sys/kernel/hostname)\" = web-0 &&"
			      " test \"$(cat /bmtest-app/conf.txt)\" = hello &&"
			      " ! (echo x >/bmtest-app/conf.txt) 2>/dev/null &&"
			      " grep -q 'nameserver 10.96.0.10' /etc/resolv.conf &&"
			      " read lo hi </proc/sys/net/ipv4/ip_local_port_range &&"
			      " test \"$lo $hi\" = '41000 41010' && test \"$FOO\" = bar &&"
			      " echo probe >/dev/udp/10.1.2.3/5353; exec sleep 30",
			      NULL};
	char *const paths[] = {"/bmtest-app/conf.txt", NULL};
	struct twin_opts o = {.hostname = "web-0",
			      .range_lo = 41000,
			      .range_hi = 41010,
			      .env = env,
			      .file_paths = paths,
			      .resolv_path = resolv};
	struct test_twin t;
	char err[512];
	int status;

	stage();
	o.files_root = files;
	ck_assert_int_eq(test_twin_start(&t, &o, argv), 0);
	ck_assert_int_ge(t.tw.tun_fd, 0);
	ck_assert_int_eq(twin_go(&t.tw, err, sizeof(err)), 0);
	ck_assert_msg(tun_sees_probe(t.tw.tun_fd, 10000), "no probe from the pod's address");
	twin_signal(&t.tw, SIGTERM);
	status = test_twin_wait(&t, 5000);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
	test_twin_end(&t);
	unstage();
}
END_TEST

/* The command's exit status is the twin's. */
START_TEST(exit_status_passes_through)
{
	char *const argv[] = {"/bin/sh", "-c", "exit 7", NULL};
	struct twin_opts o = {0};
	struct test_twin t;
	char err[512];
	int status;

	ck_assert_int_eq(test_twin_start(&t, &o, argv), 0);
	ck_assert_int_eq(twin_go(&t.tw, err, sizeof(err)), 0);
	status = test_twin_wait(&t, 5000);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 7);
	test_twin_end(&t);
}
END_TEST

/* A command that cannot run is reported by twin_go, with its name. */
START_TEST(exec_failure_is_reported)
{
	char *const argv[] = {"/nonexistent/bm-no-such-command", NULL};
	struct twin_opts o = {0};
	struct test_twin t;
	char err[512] = "";

	ck_assert_int_eq(test_twin_start(&t, &o, argv), 0);
	ck_assert_int_eq(twin_go(&t.tw, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "bm-no-such-command"));
	test_twin_end(&t);
}
END_TEST

/* A pod address that is not IPv4 fails the start, with a sentence. */
START_TEST(bad_pod_address_fails_the_start)
{
	char *const argv[] = {"/bin/true", NULL};
	struct twin_opts o = {.pod_ip = "not-an-address"};
	struct test_twin t;

	ck_assert_int_lt(test_twin_start(&t, &o, argv), 0);
	test_twin_end(&t);
}
END_TEST

static Suite *twin_suite(void)
{
	Suite *s = suite_create("twin");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, command_sees_the_pod);
	tcase_add_test(tc, exit_status_passes_through);
	tcase_add_test(tc, exec_failure_is_reported);
	tcase_add_test(tc, bad_pod_address_fails_the_start);
	suite_add_tcase(s, tc);
	return s;
}

/* Root (or unprivileged user namespaces) and /dev/net/tun; the unit tests run as root here. */
TEST_MAIN_ROOT(twin_suite, "test_twin")
