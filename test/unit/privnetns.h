/* A network namespace private to the test process, for tests that make links and routes. */
#ifndef BPFMIRROR_TEST_PRIVNETNS_H
#define BPFMIRROR_TEST_PRIVNETNS_H

#include <errno.h>
#include <sched.h>
#include <stdlib.h>

/*
 * Moves the process into a new network namespace and runs the shell commands
 * CMDS (NULL-terminated) there. Nothing it makes can clash with other tests
 * or outlive the process: the namespace and its links vanish when it exits.
 * Returns 0, -errno when unshare fails, or -EIO when a command fails.
 */
static inline int test_private_netns(const char *const cmds[])
{
	if (unshare(CLONE_NEWNET))
		return -errno;
	for (int i = 0; cmds[i]; i++)
		if (system(cmds[i]) != 0)
			return -EIO;
	return 0;
}

#endif
