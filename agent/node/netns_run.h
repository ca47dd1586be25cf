/* Runs a function inside another process's network namespace (a forked child) and returns its
 * bytes. */
#ifndef BPFMIRROR_NETNS_RUN_H
#define BPFMIRROR_NETNS_RUN_H

#include <stddef.h>
#include <sys/types.h>

/*
 * FN runs in a child that joined PROC/PID/ns/net; it writes at most OUTLEN
 * bytes into OUT and returns their count or -errno. The agent itself never
 * changes namespace: setns() in a forked child keeps its threads and sockets
 * where they are. Returns FN's result (the bytes are in OUT) or -errno.
 */
typedef int (*netns_fn)(void *ctx, void *out, size_t outlen);
int netns_run(const char *proc_root, pid_t pid, netns_fn fn, void *ctx, void *out, size_t outlen);

#endif
