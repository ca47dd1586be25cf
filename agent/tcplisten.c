/* Non-blocking TCP listeners of the agent from "IP:PORT" text. */
#include "tcplisten.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int tcplisten_open(const char *addr, int backlog)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	char host[64];
	const char *colon = strrchr(addr, ':');
	char *end;
	long port;
	int fd, one = 1, err;

	/* A bare port listens on every address (the chart's metrics port). */
	if (!colon) {
		host[0] = '\0';
		colon = addr - 1;
	} else if ((size_t)(colon - addr) >= sizeof(host)) {
		return -EINVAL;
	} else {
		memcpy(host, addr, (size_t)(colon - addr));
		host[colon - addr] = '\0';
	}
	port = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port < 0 || port > 65535)
		return -EINVAL;
	if (host[0] == '\0' || strcmp(host, "*") == 0)
		sin.sin_addr.s_addr = htonl(INADDR_ANY);
	else if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		return -EINVAL;
	sin.sin_port = htons((uint16_t)port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, backlog) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}
