/* The CLI side of the control channel: connect, handshake, requests and frames. */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define QUEUE_MAX 4096

struct bm_client {
	int fd;
	uint64_t next_req;
	uint64_t hb_seq;
	struct frame_reader *rd;
	struct frame_writer *wr;
	char node[256];
	char version[64];
	/* frames received while waiting for a reply */
	Bpfmirror__Frame **queue;
	size_t qhead, qlen;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int connect_addr(const char *addr, int timeout_ms, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	char host[256];
	const char *colon = strrchr(addr, ':');
	struct pollfd pfd;
	int fd = -1, rc, soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof(host)) {
		snprintf(err, errlen, "agent address '%s' is not HOST:PORT", addr);
		return -EINVAL;
	}
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	rc = getaddrinfo(host, colon + 1, &hints, &res);
	if (rc) {
		snprintf(err, errlen, "agent address '%s': %s", addr, gai_strerror(rc));
		return -EHOSTUNREACH;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	if (connect(fd, res->ai_addr, res->ai_addrlen) < 0 && errno != EINPROGRESS) {
		rc = -errno;
		goto fail;
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	rc = poll(&pfd, 1, timeout_ms);
	if (rc == 0) {
		rc = -ETIMEDOUT;
		goto fail;
	}
	if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) {
		rc = -errno;
		goto fail;
	}
	if (soerr) {
		rc = -soerr;
		goto fail;
	}
	/* Packets and requests are small frames: never hold them back (Nagle). */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
	rc = fd;
	goto out;
fail:
	snprintf(err, errlen, "agent at %s is unreachable: %s", addr, strerror(-rc));
	close(fd);
out:
	freeaddrinfo(res);
	return rc;
}

static int wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = events};
	int rc = poll(&pfd, 1, timeout_ms);

	if (rc < 0)
		return errno == EINTR ? 0 : -errno;
	return rc;
}

int client_fd(const struct bm_client *c)
{
	return c->fd;
}

const char *client_node_name(const struct bm_client *c)
{
	return c->node;
}

const char *client_agent_version(const struct bm_client *c)
{
	return c->version;
}

int client_flush(struct bm_client *c)
{
	return frame_writer_flush(c->wr, c->fd);
}

int client_pending(const struct bm_client *c)
{
	return frame_writer_pending(c->wr);
}

size_t client_queued(const struct bm_client *c)
{
	return frame_writer_queued(c->wr);
}

int client_send(struct bm_client *c, const Bpfmirror__Frame *f)
{
	int err = wire_send(c->wr, f);

	if (err)
		return err;
	err = frame_writer_flush(c->wr, c->fd);
	return err < 0 ? err : 0;
}

/* Reads from the socket into frames; returns 1 with a frame, 0, or -errno. */
static int read_frame(struct bm_client *c, int timeout_ms, Bpfmirror__Frame **f)
{
	int64_t deadline = now_ms() + timeout_ms;

	for (;;) {
		const uint8_t *payload;
		size_t len;
		int64_t left;
		int rc = frame_reader_next(c->rd, &payload, &len);

		if (rc == 1)
			return wire_decode(payload, len, f) ? -EPROTO : 1;
		if (rc < 0)
			return rc;
		/* Push out what we owe the agent while we wait. */
		if (frame_writer_pending(c->wr) && frame_writer_flush(c->wr, c->fd) < 0)
			return -EPIPE;
		left = deadline - now_ms();
		if (left < 0)
			left = 0;
		rc = wait_fd(c->fd, POLLIN, (int)left);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			if (left == 0)
				return 0;
			continue;
		}
		rc = frame_reader_read(c->rd, c->fd);
		if (rc < 0 && rc != -EAGAIN)
			return rc;
	}
}

int client_next(struct bm_client *c, int timeout_ms, Bpfmirror__Frame **f)
{
	if (c->qlen) {
		*f = c->queue[c->qhead];
		c->qhead = (c->qhead + 1) % QUEUE_MAX;
		c->qlen--;
		return 1;
	}
	return read_frame(c, timeout_ms, f);
}

static int enqueue(struct bm_client *c, Bpfmirror__Frame *f)
{
	if (c->qlen == QUEUE_MAX) {
		wire_frame_free(f);
		return -ENOBUFS;
	}
	c->queue[(c->qhead + c->qlen) % QUEUE_MAX] = f;
	c->qlen++;
	return 0;
}

int client_request(struct bm_client *c, Bpfmirror__Frame *req, int timeout_ms,
		   Bpfmirror__Frame **reply)
{
	int64_t deadline = now_ms() + timeout_ms;
	int err;

	req->request_id = ++c->next_req;
	err = client_send(c, req);
	if (err)
		return err;
	for (;;) {
		Bpfmirror__Frame *f = NULL;
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		err = read_frame(c, (int)left, &f);
		if (err < 0)
			return err;
		if (err == 0)
			return -ETIMEDOUT;
		if (f->request_id == req->request_id &&
		    f->body_case != BPFMIRROR__FRAME__BODY_HEARTBEAT) {
			*reply = f;
			return 0;
		}
		/* A fatal error that answers no request ends the session. */
		if (f->body_case == BPFMIRROR__FRAME__BODY_ERROR && f->error->fatal) {
			*reply = f;
			return 0;
		}
		err = enqueue(c, f);
		if (err)
			return err;
	}
}

int client_heartbeat(struct bm_client *c)
{
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT;
	Bpfmirror__Heartbeat hb = BPFMIRROR__HEARTBEAT__INIT;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	hb.seq = ++c->hb_seq;
	hb.timestamp_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	f.request_id = ++c->next_req;
	f.body_case = BPFMIRROR__FRAME__BODY_HEARTBEAT;
	f.heartbeat = &hb;
	return client_send(c, &f);
}

const char *client_error_text(const Bpfmirror__Frame *f, char *buf, size_t len)
{
	if (f->body_case != BPFMIRROR__FRAME__BODY_ERROR)
		snprintf(buf, len, "unexpected %s", wire_body_name(f->body_case));
	else
		snprintf(buf, len, "%s", f->error->message);
	return buf;
}

struct bm_client *client_connect(const char *addr, const char *identity, int timeout_ms, char *err,
				 size_t errlen)
{
	static char *caps[] = {BPFMIRROR_CAP_MIRROR, BPFMIRROR_CAP_STEAL, BPFMIRROR_CAP_FILES,
			       BPFMIRROR_CAP_OUTGOING};
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT, *reply = NULL;
	Bpfmirror__Hello h = BPFMIRROR__HELLO__INIT;
	struct bm_client *c = calloc(1, sizeof(*c));
	char etext[256];
	int rc;

	if (!c) {
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	c->fd = -1;
	c->rd = frame_reader_new(0);
	c->wr = frame_writer_new(0, 0);
	c->queue = calloc(QUEUE_MAX, sizeof(*c->queue));
	if (!c->rd || !c->wr || !c->queue) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	rc = connect_addr(addr, timeout_ms, err, errlen);
	if (rc < 0)
		goto fail;
	c->fd = rc;
	h.protocol_version = BPFMIRROR_PROTOCOL_VERSION;
	h.capabilities = caps;
	h.n_capabilities = sizeof(caps) / sizeof(caps[0]);
	h.client_identity = (char *)identity;
	h.client_version = (char *)BPFMIRROR_VERSION;
	f.body_case = BPFMIRROR__FRAME__BODY_HELLO;
	f.hello = &h;
	rc = client_request(c, &f, timeout_ms, &reply);
	if (rc) {
		snprintf(err, errlen, "agent at %s did not complete the handshake: %s", addr,
			 rc == -EPIPE || rc == -ECONNRESET ? "connection closed"
							   : frame_strerror(rc));
		goto fail;
	}
	if (reply->body_case == BPFMIRROR__FRAME__BODY_ERROR) {
		snprintf(err, errlen, "agent at %s refused the handshake: %s", addr,
			 client_error_text(reply, etext, sizeof(etext)));
		rc = reply->error->code == BPFMIRROR__ERROR__CODE__CODE_UNSUPPORTED_VERSION
			 ? -EPROTONOSUPPORT
			 : -ECONNREFUSED;
		goto fail;
	}
	rc = wire_check_hello_reply(reply);
	if (rc) {
		snprintf(err, errlen,
			 "agent at %s speaks protocol %u, this bpfmirror speaks %u: upgrade the "
			 "older one",
			 addr,
			 reply->body_case == BPFMIRROR__FRAME__BODY_HELLO_REPLY
			     ? reply->hello_reply->protocol_version
			     : 0,
			 BPFMIRROR_PROTOCOL_VERSION);
		goto fail;
	}
	snprintf(c->node, sizeof(c->node), "%s", reply->hello_reply->node_name);
	snprintf(c->version, sizeof(c->version), "%s", reply->hello_reply->agent_version);
	wire_frame_free(reply);
	return c;
fail:
	if (reply)
		wire_frame_free(reply);
	client_close(c);
	errno = -rc;
	return NULL;
}

void client_close(struct bm_client *c)
{
	if (!c)
		return;
	while (c->qlen) {
		wire_frame_free(c->queue[c->qhead]);
		c->qhead = (c->qhead + 1) % QUEUE_MAX;
		c->qlen--;
	}
	free(c->queue);
	if (c->fd >= 0)
		close(c->fd);
	frame_reader_free(c->rd);
	frame_writer_free(c->wr);
	free(c);
}
