/* A tiny Redis (RESP2) client: commands as argument arrays, integer replies. */
#ifndef SIMCLUSTER_RESP_H
#define SIMCLUSTER_RESP_H

#include <stddef.h>

struct resp_conn {
	int fd;
	char buf[512];
	size_t have;
};

/* Connects to "host:port"; returns 0 or -errno. */
int resp_connect(struct resp_conn *c, const char *hostport);

void resp_close(struct resp_conn *c);

/* Sends one command (argc strings) without waiting; returns 0 or -errno. */
int resp_send(struct resp_conn *c, int argc, const char *const *argv);

/* Reads one reply; integer replies are stored in *value. Returns 0, -EPROTO on error replies. */
int resp_read_int(struct resp_conn *c, long long *value);

#endif
