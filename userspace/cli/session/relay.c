/* Byte relay between two non-blocking sockets on the event loop (outgoing.local endpoints). */
#include "relay.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RELAY_BUF (64u << 10)

struct half {
	int from, to;
	char buf[RELAY_BUF];
	size_t off, len;
	bool eof;  /* FROM said EOF */
	bool done; /* EOF passed on to TO */
};

struct relay {
	struct evloop *loop;
	int fd[2];
	bool connected;	  /* fd[1] finished its non-blocking connect */
	struct half h[2]; /* h[0]: fd[0] -> fd[1], h[1]: fd[1] -> fd[0] */
};

static void on_io(struct evloop *loop, int fd, unsigned events, void *ctx);

static void relay_free(struct relay *r)
{
	for (int i = 0; i < 2; i++) {
		evloop_unwatch(r->loop, r->fd[i]);
		close(r->fd[i]);
	}
	free(r);
}

/* Interest of fd[i]: read while its outgoing half has room, write while the
 * other half has bytes for it (or its connect is pending). */
static void rearm(struct relay *r)
{
	for (int i = 0; i < 2; i++) {
		const struct half *out = &r->h[i], *in = &r->h[1 - i];
		unsigned ev = 0;
		if (!out->eof && out->len == 0 && (i == 0 || r->connected))
			ev |= EV_READ;
		if (in->len > 0 || (i == 1 && !r->connected))
			ev |= EV_WRITE;
		evloop_watch(r->loop, r->fd[i], ev, on_io, r);
	}
}

/* Moves bytes of one half; returns -1 on a hard error. */
static int pump(struct half *h)
{
	if (h->len == 0 && !h->eof) {
		ssize_t n = recv(h->from, h->buf, sizeof(h->buf), 0);
		if (n > 0) {
			h->off = 0;
			h->len = (size_t)n;
		} else if (n == 0) {
			h->eof = true;
		} else if (errno != EAGAIN && errno != EINTR) {
			return -1;
		}
	}
	while (h->len > 0) {
		ssize_t n = send(h->to, h->buf + h->off, h->len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return -1;
		}
		h->off += (size_t)n;
		h->len -= (size_t)n;
	}
	if (h->eof && !h->done) {
		shutdown(h->to, SHUT_WR);
		h->done = true;
	}
	return 0;
}

static void on_io(struct evloop *loop, int fd, unsigned events, void *ctx)
{
	struct relay *r = ctx;

	(void)loop;
	(void)events;
	if (!r->connected && fd == r->fd[1]) {
		int err = 0;
		socklen_t sl = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0 || err) {
			relay_free(r);
			return;
		}
		r->connected = true;
	}
	if (r->connected && (pump(&r->h[0]) < 0 || pump(&r->h[1]) < 0)) {
		relay_free(r);
		return;
	}
	if (r->h[0].done && r->h[1].done) {
		relay_free(r);
		return;
	}
	rearm(r);
}

int relay_start(struct evloop *loop, int a, int b)
{
	struct relay *r = malloc(sizeof(*r));

	if (!r)
		return -ENOMEM;
	memset(r, 0, sizeof(*r));
	/* Small request/response writes must not wait for delayed ACKs (40 ms each). */
	setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
	setsockopt(b, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
	r->loop = loop;
	r->fd[0] = a;
	r->fd[1] = b;
	r->h[0].from = a;
	r->h[0].to = b;
	r->h[1].from = b;
	r->h[1].to = a;
	rearm(r);
	return 0;
}
