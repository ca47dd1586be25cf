/* Unit tests for the kubectl port-forward runner: output classification, kubectl lookup, failures.
 */
#include "portforward.h"
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

START_TEST(classify_forwarding)
{
	uint16_t port = 0;

	ck_assert_int_eq(portforward_classify("Forwarding from 127.0.0.1:41611 -> 47100", &port),
			 PF_LINE_FORWARDING);
	ck_assert_uint_eq(port, 41611);
	ck_assert_int_eq(portforward_classify("Forwarding from [::1]:41611 -> 47100", &port),
			 PF_LINE_OTHER);
	ck_assert_int_eq(portforward_classify("Forwarding from 127.0.0.1:0 -> 47100", &port),
			 PF_LINE_OTHER);
	ck_assert_int_eq(portforward_classify("Forwarding from 127.0.0.1:70000 -> 1", &port),
			 PF_LINE_OTHER);
	ck_assert_int_eq(portforward_classify("Handling connection for 47100", &port),
			 PF_LINE_OTHER);
}
END_TEST

START_TEST(classify_errors)
{
	uint16_t port = 0;

	ck_assert_int_eq(
	    portforward_classify("error: error upgrading connection: pods \"a\" is forbidden: User "
				 "\"dev\" cannot create resource \"pods/portforward\" in API group "
				 "\"\" in the namespace \"bpfmirror\"",
				 &port),
	    PF_LINE_FORBIDDEN);
	ck_assert_int_eq(portforward_classify("Error from server (Forbidden): pods \"a\" is "
					      "forbidden: User \"dev\" cannot get resource",
					      &port),
			 PF_LINE_FORBIDDEN);
	ck_assert_int_eq(
	    portforward_classify("Error from server (NotFound): pods \"a\" not found", &port),
	    PF_LINE_NOT_FOUND);
	ck_assert_int_eq(portforward_classify("error: unable to forward port because pod is not "
					      "running. Current status=Pending",
					      &port),
			 PF_LINE_NOT_RUNNING);
	ck_assert_int_eq(portforward_classify("error: You must be logged in to the server "
					      "(Unauthorized)",
					      &port),
			 PF_LINE_UNAUTHORIZED);
	ck_assert_int_eq(portforward_classify("error: lost connection to pod", &port),
			 PF_LINE_ERROR);
	/* Text that merely mentions the words is not kubectl failing. */
	ck_assert_int_eq(portforward_classify("E1127 10:00:00 forbidden not found", &port),
			 PF_LINE_OTHER);
}
END_TEST

static char tmpdir[64];

static void make_script(const char *name, const char *body, mode_t mode)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	chmod(path, mode);
}

static void setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_portforward-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "/bin/rm -rf %s", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
	unsetenv(PORTFORWARD_KUBECTL_ENV);
}

START_TEST(find_kubectl)
{
	struct kube_err err = {{0}, {0}};
	char buf[256], want[128];

	setenv("PATH", tmpdir, 1);
	unsetenv(PORTFORWARD_KUBECTL_ENV);
	ck_assert_int_eq(portforward_find_kubectl(buf, sizeof(buf), &err), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err.msg, "kubectl is not installed"));
	ck_assert_ptr_nonnull(strstr(err.hint, PORTFORWARD_KUBECTL_ENV));

	make_script("kubectl", "exit 0", 0644); /* not executable: skipped */
	ck_assert_int_eq(portforward_find_kubectl(buf, sizeof(buf), &err), -ENOENT);
	make_script("kubectl", "exit 0", 0755);
	ck_assert_int_eq(portforward_find_kubectl(buf, sizeof(buf), &err), 0);
	snprintf(want, sizeof(want), "%s/kubectl", tmpdir);
	ck_assert_str_eq(buf, want);

	setenv(PORTFORWARD_KUBECTL_ENV, "/nonexistent/kubectl", 1);
	ck_assert_int_eq(portforward_find_kubectl(buf, sizeof(buf), &err), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/kubectl"));
}
END_TEST

static struct portforward *start_fake(const char *body, struct kube_err *err)
{
	struct portforward_opts o = {.namespace = "bpfmirror",
				     .pod = "bpfmirror-agent-x",
				     .port = 47100,
				     .timeout_ms = 3000};
	char path[128];

	make_script("fake-kubectl", body, 0755);
	snprintf(path, sizeof(path), "%s/fake-kubectl", tmpdir);
	setenv(PORTFORWARD_KUBECTL_ENV, path, 1);
	return portforward_start(&o, err);
}

START_TEST(start_ok_and_stop)
{
	struct kube_err err = {{0}, {0}};
	struct portforward *pf;

	/* The fake checks its arguments and then forwards "forever". */
	pf = start_fake("[ \"$2\" = --address ] && [ \"$5\" = bpfmirror ] && "
			"[ \"$6\" = pod/bpfmirror-agent-x ] && [ \"$7\" = :47100 ] || exit 3\n"
			"echo 'Forwarding from 127.0.0.1:40123 -> 47100'\n"
			"echo 'Forwarding from [::1]:40123 -> 47100'\nexec sleep 30",
			&err);
	ck_assert_msg(pf != NULL, "%s", err.msg);
	ck_assert_str_eq(portforward_address(pf), "127.0.0.1:40123");
	portforward_stop(pf);
}
END_TEST

START_TEST(restart_on_same_port)
{
	struct kube_err err = {{0}, {0}};
	struct portforward *pf;
	char cmd[256];
	int runs = 0;
	FILE *f;

	/* First run: random port (":47100"), then it dies; a restart must ask for 40124. */
	snprintf(cmd, sizeof(cmd),
		 "echo \"$7\" >>%s/runs\n"
		 "echo 'Forwarding from 127.0.0.1:40124 -> 47100'\n"
		 "[ \"$7\" = :47100 ] && exit 1\n"
		 "[ \"$7\" = 40124:47100 ] || exit 5\nexec sleep 30",
		 tmpdir);
	pf = start_fake(cmd, &err);
	ck_assert_msg(pf != NULL, "%s", err.msg);
	ck_assert_str_eq(portforward_address(pf), "127.0.0.1:40124");
	for (int i = 0; i < 50 && runs < 2; i++) {
		char line[64];
		usleep(100 * 1000);
		snprintf(cmd, sizeof(cmd), "%s/runs", tmpdir);
		f = fopen(cmd, "r");
		runs = 0;
		while (f && fgets(line, sizeof(line), f))
			runs++;
		if (f)
			fclose(f);
	}
	ck_assert_int_eq(runs, 2);
	ck_assert_str_eq(portforward_address(pf), "127.0.0.1:40124");
	portforward_stop(pf);
}
END_TEST

START_TEST(start_forbidden)
{
	struct kube_err err = {{0}, {0}};

	ck_assert_ptr_null(start_fake("echo 'error: error upgrading connection: pods "
				      "\"bpfmirror-agent-x\" is forbidden: User \"dev\" cannot "
				      "create resource \"pods/portforward\"' >&2; exit 1",
				      &err));
	ck_assert_int_eq(errno, EACCES);
	ck_assert_ptr_nonnull(strstr(err.hint, "pods/portforward"));
	ck_assert_ptr_nonnull(strstr(err.hint, "bpfmirror"));
}
END_TEST

START_TEST(start_not_found_and_exit)
{
	struct kube_err err = {{0}, {0}};

	ck_assert_ptr_null(start_fake(
	    "echo 'Error from server (NotFound): pods \"bpfmirror-agent-x\" not found' >&2; exit 1",
	    &err));
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_ptr_null(start_fake("echo 'something odd'; exit 4", &err));
	ck_assert_int_eq(errno, EIO);
	ck_assert_ptr_nonnull(strstr(err.msg, "status 4"));
	ck_assert_ptr_nonnull(strstr(err.msg, "something odd"));
}
END_TEST

START_TEST(start_timeout)
{
	struct kube_err err = {{0}, {0}};
	struct portforward_opts o = {
	    .namespace = "bpfmirror", .pod = "a", .port = 47100, .timeout_ms = 300};
	char path[128];

	make_script("slow-kubectl", "exec sleep 30", 0755);
	snprintf(path, sizeof(path), "%s/slow-kubectl", tmpdir);
	setenv(PORTFORWARD_KUBECTL_ENV, path, 1);
	ck_assert_ptr_null(portforward_start(&o, &err));
	ck_assert_int_eq(errno, ETIMEDOUT);
}
END_TEST

static Suite *portforward_suite(void)
{
	Suite *s = suite_create("portforward");
	TCase *tc = tcase_create("classify");
	TCase *tp = tcase_create("process");

	tcase_add_test(tc, classify_forwarding);
	tcase_add_test(tc, classify_errors);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(tp, setup, teardown);
	tcase_add_test(tp, find_kubectl);
	tcase_add_test(tp, start_ok_and_stop);
	tcase_add_test(tp, restart_on_same_port);
	tcase_add_test(tp, start_forbidden);
	tcase_add_test(tp, start_not_found_and_exit);
	tcase_add_test(tp, start_timeout);
	tcase_set_timeout(tp, 20);
	suite_add_tcase(s, tp);
	return s;
}

TEST_MAIN(portforward_suite)
