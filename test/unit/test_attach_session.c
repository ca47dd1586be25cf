/* Unit tests for the CLI's attach session: it runs until the twin's command ends and returns its
 * status. */
#include "attach_session.h"
#include "testtwin.h"
#include "testutil.h"

#include <time.h>

/* Runs a session for ARGV's twin with one agent link that is down (nothing to send). */
static int run_session(char *const *argv, struct attach_session_stats *st)
{
	struct twin_opts o = {0};
	struct test_twin t;
	struct link l = {.up = false};
	struct attach_params p = {.nports = 0};
	char err[512];
	int rc;

	ck_assert_int_eq(test_twin_start(&t, &o, argv), 0);
	ck_assert_int_eq(twin_go(&t.tw, err, sizeof(err)), 0);
	rc = attach_session_run(&l, 1, &p, &t.tw, st);
	/* The session reaped the command. */
	ck_assert_int_eq(waitpid(t.tw.pid, NULL, WNOHANG), -1);
	t.tw.pid = -1;
	test_twin_end(&t);
	return rc;
}

START_TEST(returns_the_exit_status)
{
	char *const argv[] = {"/bin/sh", "-c", "sleep 0.2; exit 5", NULL};
	struct attach_session_stats st = {0};

	ck_assert_int_eq(run_session(argv, &st), 5);
}
END_TEST

START_TEST(signal_death_is_128_plus_n)
{
	char *const argv[] = {"/bin/sh", "-c", "sleep 0.2; kill -KILL $$", NULL};
	struct attach_session_stats st = {0};

	ck_assert_int_eq(run_session(argv, &st), 128 + SIGKILL);
}
END_TEST

/* A command that ended before the session began is noticed (no SIGCHLD wait). */
START_TEST(command_done_before_the_loop)
{
	char *const argv[] = {"/bin/sh", "-c", "exit 3", NULL};
	struct twin_opts o = {0};
	struct test_twin t;
	struct link l = {.up = false};
	struct attach_params p = {.nports = 0};
	struct attach_session_stats st = {0};
	char err[512];
	int status;

	ck_assert_int_eq(test_twin_start(&t, &o, argv), 0);
	ck_assert_int_eq(twin_go(&t.tw, err, sizeof(err)), 0);
	/* Let it exit, but leave it for the session to reap. */
	ck_assert_int_eq(waitid(P_PID, (id_t)t.tw.pid, NULL, WEXITED | WNOWAIT), 0);
	ck_assert_int_eq(attach_session_run(&l, 1, &p, &t.tw, &st), 3);
	ck_assert_int_eq(waitpid(t.tw.pid, &status, WNOHANG), -1);
	t.tw.pid = -1;
	test_twin_end(&t);
}
END_TEST

/* SIGTERM to bpfmirror stops the command (SIGTERM) and ends the session. */
START_TEST(sigterm_stops_the_command)
{
	char *const argv[] = {"/bin/sh", "-c", "exec sleep 30", NULL};
	struct attach_session_stats st = {0};
	struct timespec t0, t1;
	pid_t self = getpid(), killer = fork();

	ck_assert_int_ge(killer, 0);
	if (killer == 0) {
		usleep(500000);
		kill(self, SIGTERM);
		_exit(0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(run_session(argv, &st), 128 + SIGTERM);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 10);
	waitpid(killer, NULL, 0);
}
END_TEST

static Suite *attach_session_suite(void)
{
	Suite *s = suite_create("attach_session");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, returns_the_exit_status);
	tcase_add_test(tc, signal_death_is_128_plus_n);
	tcase_add_test(tc, command_done_before_the_loop);
	tcase_add_test(tc, sigterm_stops_the_command);
	suite_add_tcase(s, tc);
	return s;
}

/* Root (or unprivileged user namespaces) and /dev/net/tun, for the twin. */
TEST_MAIN_ROOT(attach_session_suite, "test_attach_session")
