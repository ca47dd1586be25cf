/* Filtered steal in the agent: router sockets, one L7 router per client connection, streams. */
#include "l7steer.h"
#include "agent_priv.h"
#include "bytequeue.h"
#include "log.h"
#include "router.h"
#include "steerns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define L7_MAX_UPS	  16
#define L7_MAX_SESSIONS	  32u /* filtered sessions per (pod, port) */
#define L7_READ_MAX	  (64u << 10)
#define L7_SOCK_HIGH	  (256u << 10) /* queued toward a socket: stop forwarding to it */
#define L7_SESSION_HIGH	  (4u << 20)   /* queued frames toward a session: block its streams */
#define L7_STREAM_IN_MAX  (16u << 20)  /* bytes a session may send ahead on one stream */
#define L7_FRAME_DATA_MAX (64u << 10)  /* bytes per StreamData frame */

struct l7port;

struct l7up {
	uint32_t id; /* router's upstream id; 0 = free slot */
	uint32_t target;
	int fd;		    /* app connection, -1 for a session stream */
	uint64_t stream_id; /* session streams */
	struct bytequeue out, in;
	bool connecting;
	bool shut_pending; /* FIN once out is flushed */
	bool eof_pending;  /* FIN from upstream behind the bytes in in */
	int err_pending;   /* failure to report behind the bytes in in */
	bool blocked;
	unsigned watched;
};

struct l7conn {
	struct l7conn *next;
	struct l7steer *l7;
	struct l7port *port;
	int fd;
	struct sockaddr_in client, server;
	struct router *r;
	struct ev_timer *sniff;
	struct bytequeue out;
	bool eof_seen, shut_pending, shut_done, closing, reset, blocked;
	unsigned watched;
	struct l7up ups[L7_MAX_UPS];
};

struct l7member {
	uint32_t sid;
	bool ready;
};

struct l7port {
	struct l7port *next;
	struct l7steer *l7;
	struct datapath_ip pod;
	uint16_t port;
	int listen_fd;
	bool routing; /* the data plane steers new connections here */
	struct route_table *table;
	struct l7member members[L7_MAX_SESSIONS];
	unsigned nmembers;
	unsigned nconns;
};

struct l7steer {
	struct agent *ag;
	struct steerns rn;
	bool rn_open;
	bool passthru; /* bm_from_router is on the router link: transparent upstreams */
	struct l7port *ports;
	struct l7conn *conns;
	uint64_t next_stream;
	struct l7steer_stats st;
	uint8_t buf[L7_READ_MAX];
};

static void conn_pump(struct l7conn *c);
static void on_conn_io(struct evloop *loop, int fd, unsigned events, void *ctx);
static void on_up_io(struct evloop *loop, int fd, unsigned events, void *ctx);

/* ---- helpers ----------------------------------------------------------- */

static struct l7up *up_find(struct l7conn *c, uint32_t id)
{
	for (int i = 0; i < L7_MAX_UPS; i++)
		if (c->ups[i].id == id)
			return &c->ups[i];
	return NULL;
}

static void up_free(struct l7conn *c, struct l7up *u, bool reset)
{
	if (u->fd >= 0) {
		evloop_unwatch(c->l7->ag->loop, u->fd);
		if (reset)
			setsockopt(u->fd, SOL_SOCKET, SO_LINGER, &(struct linger){1, 0},
				   sizeof(struct linger));
		close(u->fd);
	}
	bq_free(&u->out);
	bq_free(&u->in);
	memset(u, 0, sizeof(*u));
	u->fd = -1;
}

static void addr_to_wire(const struct sockaddr_in *sin, Bpfmirror__Address *a)
{
	bpfmirror__address__init(a);
	a->ip.data = (uint8_t *)&sin->sin_addr;
	a->ip.len = 4;
	a->port = ntohs(sin->sin_port);
}

/* Sends one Stream* frame (body already set in f) with the connection's addresses. */
static int stream_send(struct l7conn *c, uint32_t sid, Bpfmirror__Frame *f,
		       Bpfmirror__Connection *conn)
{
	static Bpfmirror__Address cl, sv;

	bpfmirror__connection__init(conn);
	addr_to_wire(&c->client, &cl);
	addr_to_wire(&c->server, &sv);
	conn->client = &cl;
	conn->server = &sv;
	return session_stream_send(c->l7->ag, sid, f);
}

static int send_stream_close(struct l7conn *c, struct l7up *u, bool reset)
{
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT;
	Bpfmirror__StreamClose m = BPFMIRROR__STREAM_CLOSE__INIT;
	Bpfmirror__Connection conn;

	m.stream_id = u->stream_id;
	m.reset = reset;
	f.body_case = BPFMIRROR__FRAME__BODY_STREAM_CLOSE;
	f.stream_close = &m;
	m.conn = &conn;
	return stream_send(c, u->target, &f, &conn);
}

/* ---- router callbacks (they only queue) ----------------------------------- */

static int cb_client_write(void *ctx, const void *data, size_t len)
{
	struct l7conn *c = ctx;

	return bq_append(&c->out, data, len);
}

static void cb_client_shutdown(void *ctx)
{
	struct l7conn *c = ctx;

	c->shut_pending = true;
}

static void cb_client_close(void *ctx, bool reset)
{
	struct l7conn *c = ctx;

	c->closing = true;
	c->reset = reset;
}

/*
 * A socket in the steer namespace bound to the client's address and port
 * (port 0: any port), so the app sees the real caller; fd or -errno. The
 * pod's answers come back through bm_from_pod (docs/design-router.md,
 * "Transparent upstream").
 */
static int transparent_socket(struct l7conn *c, uint16_t port)
{
	struct sockaddr_in src = c->client;
	int fd = steerns_socket(&c->l7->rn, AF_INET, SOCK_STREAM, 0), err = 0;

	if (fd < 0)
		return fd;
	src.sin_port = port;
	if (setsockopt(fd, IPPROTO_IP, IP_TRANSPARENT, &(int){1}, sizeof(int)) < 0 ||
	    bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0)
		err = -errno;
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

/* Non-blocking connect of fd to the pod; 0, or -errno (fd closed). */
static int app_connect(struct l7conn *c, int fd)
{
	int err;

	setsockopt(fd, IPPROTO_TCP, 1 /* TCP_NODELAY */, &(int){1}, sizeof(int));
	if (connect(fd, (struct sockaddr *)&c->server, sizeof(c->server)) == 0 ||
	    errno == EINPROGRESS)
		return 0;
	err = -errno;
	close(fd);
	return err;
}

/*
 * The router's connection to the app: from the client's address and port;
 * if that tuple is still taken (a previous upstream of this connection in
 * TIME_WAIT), from the client's address and another port; if the router
 * link has no program, or the client is the pod itself (its own address
 * would be a martian source there), from the node as before.
 */
static int app_socket(struct l7conn *c)
{
	bool transparent =
	    c->l7->passthru && c->client.sin_addr.s_addr != c->server.sin_addr.s_addr;
	uint16_t ports[2] = {c->client.sin_port, 0};
	int fd, fd_err;

	for (int i = 0; transparent && i < 2; i++) {
		fd = transparent_socket(c, ports[i]);
		if (fd >= 0 && app_connect(c, fd) == 0)
			return fd;
	}
	if (transparent)
		c->l7->st.passthru_fallbacks++;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	fd_err = app_connect(c, fd);
	return fd_err ? fd_err : fd;
}

static int open_app(struct l7conn *c, struct l7up *u)
{
	int fd = app_socket(c);

	if (fd < 0) {
		c->l7->st.app_connect_errors++;
		return fd;
	}
	u->fd = fd;
	u->connecting = true;
	u->watched = EV_WRITE;
	return evloop_watch(c->l7->ag->loop, fd, EV_WRITE, on_up_io, c);
}

static int cb_upstream_open(void *ctx, uint32_t id, uint32_t target)
{
	struct l7conn *c = ctx;
	struct l7up *u = up_find(c, 0);
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT;
	Bpfmirror__StreamOpen m = BPFMIRROR__STREAM_OPEN__INIT;
	Bpfmirror__Connection conn;
	int err;

	if (!u)
		return -EMFILE;
	memset(u, 0, sizeof(*u));
	u->fd = -1;
	u->id = id;
	u->target = target;
	if (target == ROUTER_TARGET_APP) {
		err = open_app(c, u);
		if (err)
			up_free(c, u, false);
		return err;
	}
	u->stream_id = ++c->l7->next_stream;
	m.stream_id = u->stream_id;
	m.conn = &conn;
	f.body_case = BPFMIRROR__FRAME__BODY_STREAM_OPEN;
	f.stream_open = &m;
	err = stream_send(c, target, &f, &conn);
	if (err) {
		up_free(c, u, false);
		return err;
	}
	c->l7->st.streams_opened++;
	return 0;
}

static int cb_upstream_write(void *ctx, uint32_t id, const void *data, size_t len)
{
	struct l7conn *c = ctx;
	struct l7up *u = up_find(c, id);
	const uint8_t *p = data;
	int err = 0;

	if (!u)
		return -ENOENT;
	if (u->fd >= 0)
		return bq_append(&u->out, data, len);
	while (len && !err) {
		Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT;
		Bpfmirror__StreamData m = BPFMIRROR__STREAM_DATA__INIT;
		Bpfmirror__Connection conn;
		size_t n = len < L7_FRAME_DATA_MAX ? len : L7_FRAME_DATA_MAX;
		m.stream_id = u->stream_id;
		m.conn = &conn;
		m.data.data = (uint8_t *)p;
		m.data.len = n;
		f.body_case = BPFMIRROR__FRAME__BODY_STREAM_DATA;
		f.stream_data = &m;
		err = stream_send(c, u->target, &f, &conn);
		p += n;
		len -= n;
	}
	return err;
}

static void cb_upstream_shutdown(void *ctx, uint32_t id)
{
	struct l7conn *c = ctx;
	struct l7up *u = up_find(c, id);
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT;
	Bpfmirror__StreamHalfClose m = BPFMIRROR__STREAM_HALF_CLOSE__INIT;
	Bpfmirror__Connection conn;

	if (!u)
		return;
	if (u->fd >= 0) {
		u->shut_pending = true;
		return;
	}
	m.stream_id = u->stream_id;
	m.conn = &conn;
	f.body_case = BPFMIRROR__FRAME__BODY_STREAM_HALF_CLOSE;
	f.stream_half_close = &m;
	stream_send(c, u->target, &f, &conn);
}

static void cb_upstream_close(void *ctx, uint32_t id, bool reset)
{
	struct l7conn *c = ctx;
	struct l7up *u = up_find(c, id);

	if (!u)
		return;
	if (u->fd < 0)
		send_stream_close(c, u, reset);
	up_free(c, u, reset);
}

static const struct router_ops l7_ops = {
    .client_write = cb_client_write,
    .client_shutdown = cb_client_shutdown,
    .client_close = cb_client_close,
    .upstream_open = cb_upstream_open,
    .upstream_write = cb_upstream_write,
    .upstream_shutdown = cb_upstream_shutdown,
    .upstream_close = cb_upstream_close,
};

/* ---- connections ---------------------------------------------------------- */

static void port_maybe_free(struct l7steer *l7, struct l7port *p);

static void conn_free(struct l7conn *c)
{
	struct l7steer *l7 = c->l7;
	const struct router_stats *rs = router_stats(c->r);

	l7->st.requests += rs->requests;
	l7->st.to_app += rs->to_app;
	l7->st.to_sessions += rs->to_sessions;
	l7->st.fallbacks += rs->fallbacks;
	l7->st.errors += rs->errors;
	l7->st.passthrough += rs->passthrough;
	l7->st.h2_conns += rs->h2;
	l7->st.h2_rejects += rs->h2_rejects;
	for (int i = 0; i < L7_MAX_UPS; i++) {
		struct l7up *u = &c->ups[i];
		if (!u->id)
			continue;
		if (u->fd < 0)
			send_stream_close(c, u, true);
		up_free(c, u, true);
	}
	for (struct l7conn **pp = &l7->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	evloop_timer_cancel(l7->ag->loop, c->sniff);
	evloop_unwatch(l7->ag->loop, c->fd);
	if (c->reset)
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &(struct linger){1, 0},
			   sizeof(struct linger));
	close(c->fd);
	router_free(c->r);
	bq_free(&c->out);
	c->port->nconns--;
	port_maybe_free(l7, c->port);
	l7->st.conns_active--;
	free(c);
}

static void set_watch(struct l7conn *c, int fd, unsigned *cur, unsigned want, ev_fd_cb cb)
{
	if (*cur == want)
		return;
	*cur = want;
	if (want)
		evloop_watch(c->l7->ag->loop, fd, want, cb, c);
	else
		evloop_unwatch(c->l7->ag->loop, fd);
}

/* Feeds what upstream u holds for the router; true if anything moved. */
static bool up_deliver(struct l7conn *c, struct l7up *u)
{
	uint32_t id = u->id;
	bool moved = false;

	if (bq_len(&u->in)) {
		size_t n = router_upstream_data(c->r, id, bq_data(&u->in), bq_len(&u->in));
		/* The router may have closed u meanwhile (up_free cleared it). */
		if (u->id != id)
			return true;
		bq_consume(&u->in, n);
		moved = n > 0;
	}
	if (bq_len(&u->in))
		return moved;
	if (u->eof_pending) {
		u->eof_pending = false;
		router_upstream_eof(c->r, id);
		return true;
	}
	if (u->err_pending) {
		int err = u->err_pending;
		u->err_pending = 0;
		router_upstream_error(c->r, id, err);
		return true;
	}
	return moved;
}

/* Writes what is queued toward the app; true if anything moved. */
static bool up_flush(struct l7conn *c, struct l7up *u)
{
	size_t before = bq_len(&u->out);
	ssize_t left;

	if (u->fd < 0 || u->connecting)
		return false;
	left = bq_write(&u->out, u->fd);
	if (left < 0) {
		uint32_t id = u->id;
		bq_free(&u->out);
		router_upstream_error(c->r, id, (int)left);
		return true;
	}
	if (!left && u->shut_pending) {
		u->shut_pending = false;
		shutdown(u->fd, SHUT_WR);
	}
	return (size_t)left != before;
}

static void up_flow(struct l7conn *c, struct l7up *u)
{
	bool blocked;

	if (u->fd >= 0)
		blocked = bq_len(&u->out) > L7_SOCK_HIGH;
	else
		blocked = session_stream_queued(c->l7->ag, u->target) > L7_SESSION_HIGH;
	if (blocked != u->blocked) {
		u->blocked = blocked;
		router_set_upstream_blocked(c->r, u->id, blocked);
	}
}

/*
 * Moves bytes until nothing changes, then sets what to wait for. Frees the
 * connection when the router is done; returns true then.
 */
static bool conn_step(struct l7conn *c)
{
	bool moved = true;
	ssize_t left;

	for (int round = 0; moved && round < 16; round++) {
		moved = false;
		left = bq_write(&c->out, c->fd);
		if (left < 0) {
			/* The client is gone: nobody to answer. */
			c->reset = true;
			conn_free(c);
			return true;
		}
		if (!left && c->shut_pending && !c->shut_done) {
			c->shut_done = true;
			shutdown(c->fd, SHUT_WR);
		}
		if (c->closing && (!left || c->reset)) {
			conn_free(c);
			return true;
		}
		if ((left > L7_SOCK_HIGH) != c->blocked) {
			c->blocked = left > L7_SOCK_HIGH;
			router_set_client_blocked(c->r, c->blocked);
			moved = true;
		}
		for (int i = 0; i < L7_MAX_UPS; i++) {
			struct l7up *u = &c->ups[i];
			if (!u->id)
				continue;
			moved |= up_flush(c, u);
			if (u->id)
				moved |= up_deliver(c, u);
			if (u->id)
				up_flow(c, u);
		}
	}
	/* What to wait for. */
	set_watch(c, c->fd, &c->watched,
		  (!c->eof_seen && router_client_room(c->r) ? EV_READ : 0) |
		      (bq_len(&c->out) ? EV_WRITE : 0),
		  on_conn_io);
	for (int i = 0; i < L7_MAX_UPS; i++) {
		struct l7up *u = &c->ups[i];
		if (!u->id || u->fd < 0)
			continue;
		set_watch(c, u->fd, &u->watched,
			  u->connecting ? EV_WRITE
					: (!bq_len(&u->in) && !u->eof_pending &&
						   router_upstream_room(c->r, u->id)
					       ? EV_READ
					       : 0) |
					      (bq_len(&u->out) ? EV_WRITE : 0),
			  on_up_io);
	}
	return false;
}

static void conn_pump(struct l7conn *c)
{
	conn_step(c);
}

static void on_conn_io(struct evloop *loop, int fd, unsigned events, void *ctx)
{
	struct l7conn *c = ctx;
	struct l7steer *l7 = c->l7;

	(void)loop;
	if (events & EV_READ) {
		size_t room = router_client_room(c->r);
		ssize_t n;
		if (room > sizeof(l7->buf))
			room = sizeof(l7->buf);
		n = room ? recv(fd, l7->buf, room, MSG_DONTWAIT) : -1;
		if (n > 0) {
			router_client_data(c->r, l7->buf, (size_t)n);
		} else if (n == 0 || (room && errno != EAGAIN && errno != EINTR)) {
			c->eof_seen = true;
			router_client_eof(c->r);
		}
	}
	conn_pump(c);
}

static void on_up_io(struct evloop *loop, int fd, unsigned events, void *ctx)
{
	struct l7conn *c = ctx;
	struct l7steer *l7 = c->l7;
	struct l7up *u = NULL;

	(void)loop;
	for (int i = 0; i < L7_MAX_UPS; i++)
		if (c->ups[i].id && c->ups[i].fd == fd)
			u = &c->ups[i];
	if (!u)
		return;
	if (u->connecting && (events & (EV_WRITE | EV_READ))) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
		u->connecting = false;
		if (soerr) {
			l7->st.app_connect_errors++;
			router_upstream_error(c->r, u->id, -soerr);
			conn_pump(c);
			return;
		}
	} else if (events & EV_READ) {
		size_t room = router_upstream_room(c->r, u->id);
		ssize_t n;
		if (room > sizeof(l7->buf))
			room = sizeof(l7->buf);
		n = room ? recv(fd, l7->buf, room, MSG_DONTWAIT) : -1;
		if (n > 0) {
			size_t took = router_upstream_data(c->r, u->id, l7->buf, (size_t)n);
			if (u->id && took < (size_t)n)
				bq_append(&u->in, l7->buf + took, (size_t)n - took);
		} else if (n == 0) {
			router_upstream_eof(c->r, u->id);
		} else if (room && errno != EAGAIN && errno != EINTR) {
			router_upstream_error(c->r, u->id, -errno);
		}
	}
	conn_pump(c);
}

static int64_t on_sniff(struct evloop *loop, void *ctx)
{
	struct l7conn *c = ctx;

	(void)loop;
	c->sniff = NULL;
	router_timeout(c->r);
	conn_pump(c);
	return -1;
}

static void on_accept(struct evloop *loop, int fd, unsigned events, void *ctx)
{
	struct l7port *p = ctx;
	struct l7steer *l7 = p->l7;

	(void)loop;
	(void)events;
	for (int i = 0; i < 64; i++) {
		socklen_t sl = sizeof(struct sockaddr_in);
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct l7conn *c;
		if (cfd < 0)
			return;
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(cfd);
			return;
		}
		c->l7 = l7;
		c->fd = cfd;
		c->port = p;
		for (int j = 0; j < L7_MAX_UPS; j++)
			c->ups[j].fd = -1;
		getpeername(cfd, (struct sockaddr *)&c->client, &sl);
		sl = sizeof(struct sockaddr_in);
		getsockname(cfd, (struct sockaddr *)&c->server, &sl);
		setsockopt(cfd, IPPROTO_TCP, 1 /* TCP_NODELAY */, &(int){1}, sizeof(int));
		c->r = router_new(&l7_ops, c, p->table, NULL);
		if (!c->r) {
			close(cfd);
			free(c);
			return;
		}
		c->next = l7->conns;
		l7->conns = c;
		p->nconns++;
		l7->st.conns_accepted++;
		l7->st.conns_active++;
		c->sniff = evloop_timer(l7->ag->loop, router_sniff_timeout_ms(c->r), on_sniff, c);
		conn_pump(c);
	}
}

/* ---- ports ---------------------------------------------------------------- */

static struct l7port *port_find(struct l7steer *l7, const struct datapath_ip *pod, uint16_t port)
{
	for (struct l7port *p = l7->ports; p; p = p->next)
		if (p->port == port && p->pod.family == pod->family &&
		    memcmp(&p->pod.u, &pod->u, sizeof(pod->u)) == 0)
			return p;
	return NULL;
}

/* Listener in the steer namespace, bound to the pod's address (IP_TRANSPARENT). */
static int port_listen(struct l7steer *l7, struct l7port *p)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(p->port)};
	int fd, err;

	if (p->pod.family != AF_INET)
		return -EAFNOSUPPORT;
	sin.sin_addr = p->pod.u.v4;
	fd = steerns_socket(&l7->rn, AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return fd;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int));
	if (setsockopt(fd, IPPROTO_IP, IP_TRANSPARENT, &(int){1}, sizeof(int)) < 0 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 1024) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	err = evloop_watch(l7->ag->loop, fd, EV_READ, on_accept, p);
	if (err) {
		close(fd);
		return err;
	}
	p->listen_fd = fd;
	return 0;
}

/* Steers new connections to the router while at least one session is ready. */
static void port_update_routing(struct l7steer *l7, struct l7port *p)
{
	bool want = false;
	int err = 0;

	for (unsigned i = 0; i < p->nmembers; i++)
		want |= p->members[i].ready;
	if (want == p->routing || !l7->ag->dp)
		return;
	err = datapath_route(l7->ag->dp, &p->pod, p->port, want ? l7->rn.node_ifindex : 0);
	if (err && want) {
		log_error("filtered steal of port %u: cannot steer it to the router: %s", p->port,
			  strerror(-err));
		return;
	}
	p->routing = want;
	log_info("port %u: %s", p->port,
		 want ? "new connections go to the L7 router"
		      : "no developer ready: new connections go to the pod");
}

static void port_maybe_free(struct l7steer *l7, struct l7port *p)
{
	if (p->nmembers)
		return;
	if (p->listen_fd >= 0) {
		evloop_unwatch(l7->ag->loop, p->listen_fd);
		close(p->listen_fd);
		p->listen_fd = -1;
	}
	/* The connections' routers use the table until they end. */
	if (p->nconns)
		return;
	for (struct l7port **pp = &l7->ports; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	route_table_free(p->table);
	free(p);
}

static void member_remove(struct l7steer *l7, struct l7port *p, unsigned i)
{
	route_table_remove(p->table, p->members[i].sid);
	memmove(&p->members[i], &p->members[i + 1], (p->nmembers - i - 1) * sizeof(p->members[0]));
	p->nmembers--;
	port_update_routing(l7, p);
}

/* ---- API ------------------------------------------------------------------ */

struct l7steer *l7steer_new(struct agent *ag)
{
	struct l7steer *l7 = calloc(1, sizeof(*l7));

	if (!l7)
		return NULL;
	l7->ag = ag;
	l7->rn.ns_fd = l7->rn.home_fd = -1;
	return l7;
}

void l7steer_free(struct l7steer *l7)
{
	if (!l7)
		return;
	while (l7->conns)
		conn_free(l7->conns);
	while (l7->ports) {
		struct l7port *p = l7->ports;
		while (p->nmembers)
			member_remove(l7, p, p->nmembers - 1);
		port_maybe_free(l7, p);
	}
	if (l7->passthru)
		datapath_release_router(l7->ag->dp);
	if (l7->rn_open)
		steerns_close(&l7->rn);
	free(l7);
}

/* The policy's header requirement, checked by the router on every request for sid. */
static int require_header(struct l7steer *l7, struct route_table *t, uint32_t sid,
			  const char *header_re, char *err, size_t errlen)
{
	const struct policy *pol = l7->ag->policy;
	char value[HTTPFILTER_MAX_REGEX + 1];
	int rc;

	if (!pol || !pol->require_header[0])
		return 0;
	err[0] = '\0';
	rc = policy_declared_value(pol, header_re, value, sizeof(value), err, errlen);
	if (!rc)
		rc = route_table_require_header(t, sid, pol->require_header, value);
	if (rc && !err[0])
		snprintf(err, errlen, "cannot set the policy's header check: %s", strerror(-rc));
	return rc;
}

int l7steer_add(struct l7steer *l7, uint32_t sid, const struct datapath_ip *pod, uint16_t port,
		const char *header_re, const char *path_re, char *err, size_t errlen)
{
	struct httpfilter *f;
	struct l7port *p;
	int rc;

	f = httpfilter_new(header_re, path_re, err, errlen);
	if (!f)
		return -errno;
	if (!l7->rn_open) {
		rc = steerns_open(&l7->rn);
		if (rc) {
			snprintf(err, errlen, "cannot set up the steer namespace: %s",
				 strerror(-rc));
			httpfilter_free(f);
			return rc;
		}
		l7->rn_open = true;
		l7->passthru =
		    l7->ag->dp && !datapath_attach_router(l7->ag->dp, l7->rn.node_ifindex);
		if (!l7->passthru)
			log_warn(
			    "filtered steal: the app will see the node, not the client, as caller");
	}
	p = port_find(l7, pod, port);
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (p)
			p->table = route_table_new();
		if (!p || !p->table) {
			free(p);
			httpfilter_free(f);
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		p->l7 = l7;
		p->pod = *pod;
		p->port = port;
		p->listen_fd = -1;
		p->next = l7->ports;
		l7->ports = p;
	}
	for (unsigned i = 0; i < p->nmembers; i++)
		if (p->members[i].sid == sid) {
			httpfilter_free(f);
			return 0;
		}
	if (p->nmembers == L7_MAX_SESSIONS) {
		httpfilter_free(f);
		snprintf(err, errlen, "port %u already has %u filtered sessions", port,
			 L7_MAX_SESSIONS);
		return -ENOSPC;
	}
	if (p->listen_fd < 0) {
		rc = port_listen(l7, p);
		if (rc) {
			httpfilter_free(f);
			snprintf(err, errlen,
				 "cannot listen for port %u in the steer namespace: %s", port,
				 strerror(-rc));
			port_maybe_free(l7, p);
			return rc;
		}
	}
	rc = route_table_add(p->table, sid, f);
	if (rc) {
		snprintf(err, errlen, "cannot add the filter: %s", strerror(-rc));
		port_maybe_free(l7, p);
		return rc;
	}
	rc = require_header(l7, p->table, sid, header_re, err, errlen);
	if (rc) {
		route_table_remove(p->table, sid);
		port_maybe_free(l7, p);
		return rc;
	}
	route_table_set_ready(p->table, sid, false);
	p->members[p->nmembers].sid = sid;
	p->members[p->nmembers].ready = false;
	p->nmembers++;
	return 0;
}

int l7steer_set_ready(struct l7steer *l7, uint32_t sid, uint16_t port, bool ready)
{
	for (struct l7port *p = l7->ports; p; p = p->next) {
		if (p->port != port)
			continue;
		for (unsigned i = 0; i < p->nmembers; i++) {
			if (p->members[i].sid != sid)
				continue;
			p->members[i].ready = ready;
			route_table_set_ready(p->table, sid, ready);
			port_update_routing(l7, p);
			return 0;
		}
	}
	return -ENOENT;
}

void l7steer_session_gone(struct l7steer *l7, uint32_t sid)
{
	struct l7port *p, *pn;
	struct l7conn *c, *cn;

	for (p = l7->ports; p; p = pn) {
		pn = p->next;
		for (unsigned i = 0; i < p->nmembers; i++)
			if (p->members[i].sid == sid) {
				member_remove(l7, p, i);
				break;
			}
	}
	/* Streams of sid fail: unanswered requests go to the app. */
	for (c = l7->conns; c; c = cn) {
		bool hit = false;
		cn = c->next;
		for (int i = 0; i < L7_MAX_UPS; i++) {
			struct l7up *u = &c->ups[i];
			if (u->id && u->fd < 0 && u->target == sid) {
				u->target = 0; /* no StreamClose to a gone session */
				u->err_pending = -ECONNRESET;
				hit = true;
			}
		}
		if (hit)
			conn_pump(c);
	}
	for (p = l7->ports; p; p = pn) {
		pn = p->next;
		port_maybe_free(l7, p);
	}
}

static struct l7conn *stream_find(struct l7steer *l7, uint32_t sid, uint64_t stream_id,
				  struct l7up **up)
{
	for (struct l7conn *c = l7->conns; c; c = c->next)
		for (int i = 0; i < L7_MAX_UPS; i++)
			if (c->ups[i].id && c->ups[i].fd < 0 && c->ups[i].target == sid &&
			    c->ups[i].stream_id == stream_id) {
				*up = &c->ups[i];
				return c;
			}
	return NULL;
}

void l7steer_on_frame(struct l7steer *l7, uint32_t sid, const Bpfmirror__Frame *f)
{
	struct l7conn *c = NULL;
	struct l7up *u = NULL;

	switch (f->body_case) {
	case BPFMIRROR__FRAME__BODY_STREAM_DATA:
		c = stream_find(l7, sid, f->stream_data->stream_id, &u);
		if (!c)
			return;
		if (bq_len(&u->in) + f->stream_data->data.len > L7_STREAM_IN_MAX ||
		    bq_append(&u->in, f->stream_data->data.data, f->stream_data->data.len)) {
			l7->st.stream_overflows++;
			u->err_pending = -ENOBUFS;
		}
		break;
	case BPFMIRROR__FRAME__BODY_STREAM_HALF_CLOSE:
		c = stream_find(l7, sid, f->stream_half_close->stream_id, &u);
		if (c)
			u->eof_pending = true;
		break;
	case BPFMIRROR__FRAME__BODY_STREAM_CLOSE:
		c = stream_find(l7, sid, f->stream_close->stream_id, &u);
		if (!c)
			return;
		if (f->stream_close->reset)
			u->err_pending = -ECONNRESET;
		else
			u->eof_pending = true;
		break;
	default:
		return;
	}
	if (c)
		conn_pump(c);
}

void l7steer_session_writable(struct l7steer *l7, uint32_t sid)
{
	struct l7conn *c, *cn;

	for (c = l7->conns; c; c = cn) {
		bool hit = false;
		cn = c->next;
		for (int i = 0; i < L7_MAX_UPS; i++)
			hit |= c->ups[i].id && c->ups[i].fd < 0 && c->ups[i].target == sid &&
			       c->ups[i].blocked;
		if (hit)
			conn_pump(c);
	}
}

void l7steer_stats(const struct l7steer *l7, struct l7steer_stats *out)
{
	*out = l7->st;
	for (const struct l7conn *c = l7->conns; c; c = c->next) {
		const struct router_stats *rs = router_stats(c->r);
		out->requests += rs->requests;
		out->to_app += rs->to_app;
		out->to_sessions += rs->to_sessions;
		out->fallbacks += rs->fallbacks;
		out->errors += rs->errors;
		out->passthrough += rs->passthrough;
		out->h2_conns += rs->h2;
		out->h2_rejects += rs->h2_rejects;
	}
}
