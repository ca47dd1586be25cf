/* A tiny Redis (RESP2) client: commands as argument arrays, integer replies. */
#include "resp.h"

#include "netclient.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RESP_TIMEOUT_MS 2000

int resp_connect(struct resp_conn *c, const char *hostport)
{
	c->have = 0;
	c->fd = net_connect(hostport, RESP_TIMEOUT_MS);
	return c->fd < 0 ? c->fd : 0;
}

void resp_close(struct resp_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->have = 0;
}

int resp_send(struct resp_conn *c, int argc, const char *const *argv)
{
	char out[1024];
	size_t len = 0;
	int i, n;

	n = snprintf(out, sizeof(out), "*%d\r\n", argc);
	len = (size_t)n;
	for (i = 0; i < argc; i++) {
		size_t alen = strlen(argv[i]);

		n = snprintf(out + len, sizeof(out) - len, "$%zu\r\n%s\r\n", alen, argv[i]);
		if (n < 0 || (size_t)n >= sizeof(out) - len)
			return -E2BIG;
		len += (size_t)n;
	}
	return net_send_all(c->fd, out, len);
}

/* Returns the length of the first line (without CRLF) once buffered, or -errno. */
static int read_line(struct resp_conn *c)
{
	for (;;) {
		char *eol = memmem(c->buf, c->have, "\r\n", 2);
		ssize_t n;

		if (eol)
			return (int)(eol - c->buf);
		if (c->have >= sizeof(c->buf) - 1)
			return -EPROTO;
		n = recv(c->fd, c->buf + c->have, sizeof(c->buf) - 1 - c->have, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? -ECONNRESET : -errno;
		c->have += (size_t)n;
	}
}

int resp_read_int(struct resp_conn *c, long long *value)
{
	char line[sizeof(c->buf)], *end;
	int len = read_line(c), err = 0;

	if (len < 0)
		return len;
	memcpy(line, c->buf, (size_t)len);
	line[len] = '\0';
	memmove(c->buf, c->buf + len + 2, c->have - (size_t)len - 2);
	c->have -= (size_t)len + 2;
	if (line[0] == ':') {
		*value = strtoll(line + 1, &end, 10);
		if (*end)
			err = -EPROTO;
	} else {
		/* -ERR ..., or a reply type this client does not expect */
		err = -EPROTO;
	}
	return err;
}
