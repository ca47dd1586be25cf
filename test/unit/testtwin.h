/* Starting a twin (the CLI's user + network + mount namespace) in unit tests. */
#ifndef BPFMIRROR_TESTTWIN_H
#define BPFMIRROR_TESTTWIN_H

#include "twin.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TEST_POD_IP "10.99.0.5"

struct test_twin {
	struct twin tw;
	char root[64]; /* the empty directory the twin builds its root in */
};

/*
 * Starts a twin running ARGV with O's settings; the pod address, the
 * environment and the root default to the test's. The command waits for
 * twin_go(). Returns twin_start()'s result (its message printed).
 */
static inline int test_twin_start(struct test_twin *t, struct twin_opts *o, char *const *argv)
{
	static char *const env[] = {"PATH=/usr/local/bin:/usr/bin:/bin", NULL};
	char err[512] = "";
	int rc;

	t->tw = (struct twin){.pid = -1, .tun_fd = -1, .ctl_fd = -1};
	snprintf(t->root, sizeof(t->root), "/tmp/bm-twin-XXXXXX");
	if (!mkdtemp(t->root))
		return -errno;
	o->newroot = t->root;
	o->pod_ip = o->pod_ip ? o->pod_ip : TEST_POD_IP;
	o->env = o->env ? o->env : env;
	o->argv = argv;
	rc = twin_start(o, &t->tw, err, sizeof(err));
	if (rc)
		fprintf(stderr, "twin_start: %s\n", err);
	return rc;
}

/* Waits up to about TIMEOUT_MS for the command; its wait status, or -1 if it still runs. */
static inline int test_twin_wait(struct test_twin *t, int timeout_ms)
{
	int status;

	for (int waited = 0; waited <= timeout_ms; waited += 10) {
		if (waitpid(t->tw.pid, &status, WNOHANG) == t->tw.pid) {
			t->tw.pid = -1;
			return status;
		}
		usleep(10000);
	}
	return -1;
}

/* Kills the command if it still runs and frees the rest. */
static inline void test_twin_end(struct test_twin *t)
{
	if (t->tw.pid > 0) {
		kill(t->tw.pid, SIGKILL);
		waitpid(t->tw.pid, NULL, 0);
		t->tw.pid = -1;
	}
	twin_close(&t->tw);
	rmdir(t->root);
}

#endif
