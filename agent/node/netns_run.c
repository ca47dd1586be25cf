/* Runs a function inside another process's network namespace (a forked child) and returns its
 * bytes. */
#include "netns_run.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int netns_run(const char *proc_root, pid_t pid, netns_fn fn, void *ctx, void *out, size_t outlen)
{
	char path[PATH_MAX];
	int pfd[2], nsfd, status, result = -EIO;
	ssize_t n;
	pid_t child;

	snprintf(path, sizeof(path), "%s/%d/ns/net", proc_root, (int)pid);
	nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0)
		return -errno;
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		result = -errno;
		goto out_ns;
	}
	child = fork();
	if (child < 0) {
		result = -errno;
		goto out_pipe;
	}
	if (child == 0) {
		/* Result first, then the bytes: the parent reads both. */
		int r = setns(nsfd, CLONE_NEWNET) < 0 ? -errno : fn(ctx, out, outlen);
		if (write(pfd[1], &r, sizeof(r)) != sizeof(r) ||
		    (r > 0 && write(pfd[1], out, (size_t)r) != r))
			_exit(1);
		_exit(0);
	}
	close(pfd[1]);
	pfd[1] = -1;
	n = read(pfd[0], &result, sizeof(result));
	if (n != sizeof(result))
		result = -EIO;
	else if (result > 0 && (size_t)result <= outlen &&
		 read(pfd[0], out, (size_t)result) != result)
		result = -EIO;
	waitpid(child, &status, 0);
out_pipe:
	close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
out_ns:
	close(nsfd);
	return result;
}
