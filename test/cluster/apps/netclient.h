/* TCP client helpers of the demo apps: connect to "host:port" through getaddrinfo (cluster DNS)
 * with timeouts. */
#ifndef SIMCLUSTER_NETCLIENT_H
#define SIMCLUSTER_NETCLIENT_H

#include <stddef.h>
#include <sys/types.h>

/* Connects to "host:port" (names resolved on every call); returns an fd or -errno. */
int net_connect(const char *hostport, int timeout_ms);

/* Sends all of buf; returns 0 or -errno. */
int net_send_all(int fd, const void *buf, size_t len);

/* Reads until EOF or size-1 bytes, NUL-terminates; returns the length or -errno. */
ssize_t net_read_all(int fd, char *buf, size_t size);

#endif
