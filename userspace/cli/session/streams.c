/* Filtered steal on the developer side: the agent's streams as connections to the local app. */
#include "streams.h"
#include "bytequeue.h"
#include "log.h"
#include "twin.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define STREAM_READ_MAX	  (64u << 10)
#define LINK_PENDING_HIGH (4u << 20) /* queued toward the agent: stop reading local sockets */

struct stream {
	struct stream *next;
	struct link *link;
	uint64_t id;
	int fd;
	uint8_t cip[16], sip[16];
	size_t iplen;
	uint32_t cport, sport;
	struct bytequeue out; /* toward the local app */
	bool connecting;
	bool shut_pending; /* agent half-closed: FIN once out is flushed */
	bool close_pending;
	bool app_eof; /* the local app sent FIN (relayed) */
	bool paused;
	unsigned watched;
};

struct streams {
	struct streams_opts o;
	struct stream *list;
	pid_t helper;
	int helper_fd;
	uint8_t buf[STREAM_READ_MAX];
};

static void on_stream_io(struct evloop *loop, int fd, unsigned events, void *ctx);

/* ---- sockets in the twin ------------------------------------------------ */

static int join_ns(pid_t pid, const char *ns, int type)
{
	char path[64];
	int fd, rc;

	snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = setns(fd, type) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

/*
 * Makes IP (network order) an address of the twin's loopback, so a socket can
 * be bound to it and the local app's replies to it stay local. One alias per
 * client address, remembered so each is added once.
 */
static void ensure_local(uint32_t ip)
{
	static uint32_t added[256];
	static unsigned n;
	struct in_addr a = {.s_addr = ip};
	char label[IFNAMSIZ];
	int sock;

	for (unsigned i = 0; i < n; i++)
		if (added[i] == ip)
			return;
	if (n == sizeof(added) / sizeof(added[0]))
		return;
	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return;
	snprintf(label, sizeof(label), "lo:c%u", n % 1000);
	if (twin_add_addr32(sock, label, a) == 0)
		added[n++] = ip;
	close(sock);
}

/*
 * The helper: joins the twin's namespaces, then answers each request (the
 * client's IPv4 address and port) with a fresh TCP socket bound to that
 * address, so the local app sees the original caller as its peer. Without
 * the rights for that it falls back to an unbound socket.
 */
static void helper_main(int sock, pid_t twin, pid_t parent)
{
	uint8_t req[6];

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	/* The user namespace first: it grants the rights to join the network one. */
	join_ns(twin, "user", CLONE_NEWUSER);
	if (join_ns(twin, "net", CLONE_NEWNET))
		_exit(1);
	while (read(sock, req, sizeof(req)) == (ssize_t)sizeof(req)) {
		char ctl[CMSG_SPACE(sizeof(int))] = {0};
		char c;
		struct iovec iov = {.iov_base = &c, .iov_len = 1};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
		struct sockaddr_in src = {.sin_family = AF_INET};
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		memcpy(&src.sin_addr, req, 4);
		memcpy(&src.sin_port, req + 4, 2);
		if (fd >= 0 && src.sin_addr.s_addr) {
			ensure_local(src.sin_addr.s_addr);
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int));
			/* The client's own port when free, else any port of its address. */
			if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
				src.sin_port = 0;
				bind(fd, (struct sockaddr *)&src, sizeof(src));
			}
		}
		if (fd >= 0) {
			struct cmsghdr *cm;
			mh.msg_control = ctl;
			mh.msg_controllen = sizeof(ctl);
			cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cm), &fd, sizeof(int));
		}
		c = fd >= 0 ? 0 : 1;
		if (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0)
			_exit(1);
		if (fd >= 0)
			close(fd);
	}
	_exit(0);
}

static int helper_start(struct streams *ss)
{
	int sv[2];
	pid_t parent = getpid(), pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -errno;
	}
	if (pid == 0) {
		close(sv[0]);
		helper_main(sv[1], ss->o.twin_pid, parent);
	}
	close(sv[1]);
	ss->helper = pid;
	ss->helper_fd = sv[0];
	return 0;
}

/* A TCP socket of the twin's network namespace, bound to the client's
 * address CIP:CPORT (network order) where possible; fd or -errno. */
static int twin_socket(struct streams *ss, const uint8_t cip[4], uint16_t cport)
{
	char c = 0, ctl[CMSG_SPACE(sizeof(int))];
	uint8_t req[6];
	uint16_t port_be = htons(cport);
	struct iovec iov = {.iov_base = &c, .iov_len = 1};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)};
	struct cmsghdr *cm;
	int fd = -1, err;

	if (ss->helper_fd < 0 && (err = helper_start(ss)))
		return err;
	/* A blocking round trip of microseconds, once per stream. */
	memcpy(req, cip, 4);
	memcpy(req + 4, &port_be, 2);
	if (write(ss->helper_fd, req, sizeof(req)) != (ssize_t)sizeof(req) ||
	    recvmsg(ss->helper_fd, &mh, 0) != 1 || c)
		return -EIO;
	cm = CMSG_FIRSTHDR(&mh);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -EIO;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/* ---- frames to the agent ---------------------------------------------------- */

static void fill_conn(struct stream *st, Bpfmirror__Connection *c, Bpfmirror__Address *cl,
		      Bpfmirror__Address *sv)
{
	bpfmirror__connection__init(c);
	bpfmirror__address__init(cl);
	bpfmirror__address__init(sv);
	cl->ip.data = st->cip;
	cl->ip.len = st->iplen;
	cl->port = st->cport;
	sv->ip.data = st->sip;
	sv->ip.len = st->iplen;
	sv->port = st->sport;
	c->client = cl;
	c->server = sv;
}

static void send_to_agent(struct streams *ss, struct stream *st, Bpfmirror__Frame *f)
{
	if (!st->link->up)
		return;
	client_send(st->link->cl, f);
	ss->o.kick(ss->o.ctx, st->link);
}

static void send_data(struct streams *ss, struct stream *st, const void *d, size_t len)
{
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT;
	Bpfmirror__StreamData m = BPFMIRROR__STREAM_DATA__INIT;
	Bpfmirror__Connection c;
	Bpfmirror__Address a, b;

	fill_conn(st, &c, &a, &b);
	m.stream_id = st->id;
	m.conn = &c;
	m.data.data = (uint8_t *)d;
	m.data.len = len;
	f.body_case = BPFMIRROR__FRAME__BODY_STREAM_DATA;
	f.stream_data = &m;
	send_to_agent(ss, st, &f);
}

static void send_half_close(struct streams *ss, struct stream *st)
{
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT;
	Bpfmirror__StreamHalfClose m = BPFMIRROR__STREAM_HALF_CLOSE__INIT;
	Bpfmirror__Connection c;
	Bpfmirror__Address a, b;

	fill_conn(st, &c, &a, &b);
	m.stream_id = st->id;
	m.conn = &c;
	f.body_case = BPFMIRROR__FRAME__BODY_STREAM_HALF_CLOSE;
	f.stream_half_close = &m;
	send_to_agent(ss, st, &f);
}

static void send_close(struct streams *ss, struct stream *st, bool reset)
{
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT;
	Bpfmirror__StreamClose m = BPFMIRROR__STREAM_CLOSE__INIT;
	Bpfmirror__Connection c;
	Bpfmirror__Address a, b;

	fill_conn(st, &c, &a, &b);
	m.stream_id = st->id;
	m.conn = &c;
	m.reset = reset;
	f.body_case = BPFMIRROR__FRAME__BODY_STREAM_CLOSE;
	f.stream_close = &m;
	send_to_agent(ss, st, &f);
}

/* ---- streams -------------------------------------------------------------- */

static void stream_free(struct streams *ss, struct stream *st, bool reset)
{
	for (struct stream **pp = &ss->list; *pp; pp = &(*pp)->next)
		if (*pp == st) {
			*pp = st->next;
			break;
		}
	if (st->fd >= 0) {
		evloop_unwatch(ss->o.loop, st->fd);
		if (reset)
			setsockopt(st->fd, SOL_SOCKET, SO_LINGER, &(struct linger){1, 0},
				   sizeof(struct linger));
		close(st->fd);
	}
	bq_free(&st->out);
	free(st);
}

static struct stream *stream_find(struct streams *ss, struct link *l, uint64_t id)
{
	for (struct stream *st = ss->list; st; st = st->next)
		if (st->link == l && st->id == id)
			return st;
	return NULL;
}

/* Flushes, applies pending closes and sets interest; false when st was freed. */
static bool stream_step(struct streams *ss, struct stream *st)
{
	unsigned want = 0;
	ssize_t left = 0;

	if (!st->connecting) {
		left = bq_write(&st->out, st->fd);
		if (left < 0) {
			send_close(ss, st, true);
			stream_free(ss, st, true);
			return false;
		}
		if (!left && st->close_pending) {
			stream_free(ss, st, false);
			return false;
		}
		if (!left && st->shut_pending) {
			st->shut_pending = false;
			shutdown(st->fd, SHUT_WR);
		}
	}
	st->paused = st->link->up && client_queued(st->link->cl) > LINK_PENDING_HIGH;
	if (st->connecting || left > 0)
		want |= EV_WRITE;
	if (!st->connecting && !st->app_eof && !st->paused)
		want |= EV_READ;
	if (want != st->watched) {
		st->watched = want;
		if (want)
			evloop_watch(ss->o.loop, st->fd, want, on_stream_io, ss);
		else
			evloop_unwatch(ss->o.loop, st->fd);
	}
	return true;
}

static void on_stream_io(struct evloop *loop, int fd, unsigned events, void *ctx)
{
	struct streams *ss = ctx;
	struct stream *st;

	(void)loop;
	for (st = ss->list; st && st->fd != fd; st = st->next)
		;
	if (!st)
		return;
	if (st->connecting) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
		st->connecting = false;
		if (soerr) {
			/* Nothing listens (any more): the agent sends the request to the pod. */
			log_debug("stream %llu: local connect: %s", (unsigned long long)st->id,
				  strerror(soerr));
			send_close(ss, st, true);
			stream_free(ss, st, true);
			return;
		}
	} else if (events & EV_READ) {
		ssize_t n = recv(fd, ss->buf, sizeof(ss->buf), MSG_DONTWAIT);
		if (n > 0) {
			send_data(ss, st, ss->buf, (size_t)n);
		} else if (n == 0) {
			st->app_eof = true;
			send_half_close(ss, st);
		} else if (errno != EAGAIN && errno != EINTR) {
			send_close(ss, st, true);
			stream_free(ss, st, true);
			return;
		}
	}
	stream_step(ss, st);
}

static void on_open(struct streams *ss, struct link *l, const Bpfmirror__StreamOpen *m)
{
	struct stream *st = calloc(1, sizeof(*st));
	struct sockaddr_in dst = {.sin_family = AF_INET};
	const Bpfmirror__Connection *c = m->conn;

	if (!st)
		return;
	st->link = l;
	st->id = m->stream_id;
	st->fd = -1;
	st->iplen = c->client->ip.len;
	memcpy(st->cip, c->client->ip.data, st->iplen);
	memcpy(st->sip, c->server->ip.data, c->server->ip.len);
	st->cport = c->client->port;
	st->sport = c->server->port;
	st->next = ss->list;
	ss->list = st;
	if (st->iplen != 4 || c->server->ip.len != 4)
		goto refuse;
	st->fd = twin_socket(ss, st->cip, (uint16_t)st->cport);
	if (st->fd < 0) {
		log_warn("filtered steal: cannot make a socket in the twin: %s", strerror(-st->fd));
		st->fd = -1;
		goto refuse;
	}
	setsockopt(st->fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
	/* The pod's address: the twin's tun carries it, so the local app listens there. */
	memcpy(&dst.sin_addr, st->sip, 4);
	dst.sin_port = htons((uint16_t)st->sport);
	if (connect(st->fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 && errno != EINPROGRESS)
		goto refuse;
	st->connecting = true;
	log_debug("stream %llu: client %u.%u.%u.%u:%u -> local port %u", (unsigned long long)st->id,
		  st->cip[0], st->cip[1], st->cip[2], st->cip[3], st->cport, st->sport);
	stream_step(ss, st);
	return;
refuse:
	send_close(ss, st, true);
	stream_free(ss, st, true);
}

void streams_on_frame(struct streams *ss, struct link *l, const Bpfmirror__Frame *f)
{
	struct stream *st;

	switch (f->body_case) {
	case BPFMIRROR__FRAME__BODY_STREAM_OPEN:
		on_open(ss, l, f->stream_open);
		return;
	case BPFMIRROR__FRAME__BODY_STREAM_DATA:
		st = stream_find(ss, l, f->stream_data->stream_id);
		if (!st)
			return;
		if (bq_append(&st->out, f->stream_data->data.data, f->stream_data->data.len)) {
			send_close(ss, st, true);
			stream_free(ss, st, true);
			return;
		}
		break;
	case BPFMIRROR__FRAME__BODY_STREAM_HALF_CLOSE:
		st = stream_find(ss, l, f->stream_half_close->stream_id);
		if (!st)
			return;
		st->shut_pending = true;
		break;
	case BPFMIRROR__FRAME__BODY_STREAM_CLOSE:
		st = stream_find(ss, l, f->stream_close->stream_id);
		if (!st)
			return;
		if (f->stream_close->reset) {
			stream_free(ss, st, true);
			return;
		}
		st->close_pending = true;
		break;
	default:
		return;
	}
	stream_step(ss, st);
}

void streams_link_down(struct streams *ss, struct link *l)
{
	struct stream *st = ss->list, *next;

	for (; st; st = next) {
		next = st->next;
		if (st->link == l)
			stream_free(ss, st, true);
	}
}

void streams_link_writable(struct streams *ss, struct link *l)
{
	struct stream *st = ss->list, *next;

	for (; st; st = next) {
		next = st->next;
		if (st->link == l && st->paused)
			stream_step(ss, st);
	}
}

struct streams *streams_new(const struct streams_opts *o)
{
	struct streams *ss = calloc(1, sizeof(*ss));

	if (!ss)
		return NULL;
	ss->o = *o;
	ss->helper = -1;
	ss->helper_fd = -1;
	return ss;
}

void streams_free(struct streams *ss)
{
	if (!ss)
		return;
	while (ss->list)
		stream_free(ss, ss->list, true);
	if (ss->helper_fd >= 0)
		close(ss->helper_fd);
	if (ss->helper > 0) {
		kill(ss->helper, SIGKILL);
		waitpid(ss->helper, NULL, 0);
	}
	free(ss);
}
