/* Per-connection request router: one exchange at a time, each to the first matching session or the
 * app. */
#include "router.h"
#include "h2proxy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- route table ------------------------------------------------------------ */

struct route {
	uint32_t sid;
	bool ready;
	struct httpfilter *filter;
	char *req_name;	 /* the policy's required header, or NULL */
	char *req_value; /* the only value of it this session may steal */
};

struct route_table {
	struct route *v;
	unsigned n;
	unsigned cap;
};

static void route_clear(struct route *e)
{
	httpfilter_free(e->filter);
	free(e->req_name);
	free(e->req_value);
}

struct route_table *route_table_new(void)
{
	return calloc(1, sizeof(struct route_table));
}

void route_table_free(struct route_table *t)
{
	unsigned i;

	if (!t)
		return;
	for (i = 0; i < t->n; i++)
		route_clear(&t->v[i]);
	free(t->v);
	free(t);
}

static struct route *route_find(const struct route_table *t, uint32_t sid)
{
	unsigned i;

	for (i = 0; i < t->n; i++)
		if (t->v[i].sid == sid)
			return &t->v[i];
	return NULL;
}

int route_table_add(struct route_table *t, uint32_t session_id, struct httpfilter *filter)
{
	struct route *nv;
	int err = -EINVAL;

	if (session_id == ROUTER_TARGET_APP || !filter)
		goto err;
	err = -EEXIST;
	if (route_find(t, session_id))
		goto err;
	if (t->n == t->cap) {
		unsigned cap = t->cap ? t->cap * 2 : 4;

		err = -ENOMEM;
		nv = realloc(t->v, cap * sizeof(*nv));
		if (!nv)
			goto err;
		t->v = nv;
		t->cap = cap;
	}
	t->v[t->n].sid = session_id;
	t->v[t->n].ready = true;
	t->v[t->n].filter = filter;
	t->v[t->n].req_name = NULL;
	t->v[t->n].req_value = NULL;
	t->n++;
	return 0;
err:
	httpfilter_free(filter);
	return err;
}

int route_table_remove(struct route_table *t, uint32_t session_id)
{
	struct route *e = route_find(t, session_id);
	size_t i;

	if (!e)
		return -ENOENT;
	route_clear(e);
	i = (size_t)(e - t->v);
	memmove(e, e + 1, (t->n - i - 1) * sizeof(*e));
	t->n--;
	return 0;
}

int route_table_set_ready(struct route_table *t, uint32_t session_id, bool ready)
{
	struct route *e = route_find(t, session_id);

	if (!e)
		return -ENOENT;
	e->ready = ready;
	return 0;
}

int route_table_require_header(struct route_table *t, uint32_t session_id, const char *name,
			       const char *value)
{
	struct route *e = route_find(t, session_id);
	char *n, *v;

	if (!e)
		return -ENOENT;
	if (!name || !name[0] || !value || !value[0])
		return -EINVAL;
	n = strdup(name);
	v = strdup(value);
	if (!n || !v) {
		free(n);
		free(v);
		return -ENOMEM;
	}
	free(e->req_name);
	free(e->req_value);
	e->req_name = n;
	e->req_value = v;
	return 0;
}

/*
 * The policy's check, whatever the session's own filter says: the request
 * carries the required header, and every copy of it is exactly the declared
 * value (a second copy with another value could fool the app).
 */
static bool required_header_ok(const struct route *e, const struct http1_head *h)
{
	size_t vl, nl;
	bool seen = false;

	if (!e->req_name)
		return true;
	vl = strlen(e->req_value);
	nl = strlen(e->req_name);
	for (unsigned i = 0; i < h->nheaders; i++) {
		const struct http1_header *x = &h->headers[i];
		if (x->name.len != nl || strncasecmp(x->name.p, e->req_name, nl) != 0)
			continue;
		if (x->value.len != vl || memcmp(x->value.p, e->req_value, vl) != 0)
			return false;
		seen = true;
	}
	return seen;
}

unsigned route_table_count(const struct route_table *t)
{
	return t->n;
}

static bool is_kube_probe(const struct http1_head *h)
{
	const struct http1_header *ua = http1_find_header(h, "user-agent");

	return ua && ua->value.len >= 11 && strncasecmp(ua->value.p, "kube-probe/", 11) == 0;
}

uint32_t route_table_pick(const struct route_table *t, const struct http1_head *h)
{
	unsigned i;

	if (is_kube_probe(h))
		return ROUTER_TARGET_APP;
	for (i = 0; i < t->n; i++)
		if (t->v[i].ready && required_header_ok(&t->v[i], h) &&
		    httpfilter_match(t->v[i].filter, h))
			return t->v[i].sid;
	return ROUTER_TARGET_APP;
}

/* ---- router state ------------------------------------------------------------ */

enum rstate {
	R_SNIFF,  /* waiting for the first bytes to tell HTTP/1.x from anything else */
	R_HTTP,	  /* routing requests */
	R_OPAQUE, /* a tunnel between the client and one upstream */
	R_CLOSED,
};

struct upstream {
	uint32_t id; /* 0: free slot */
	uint32_t target;
	bool blocked;
	bool used; /* has carried an exchange before: a failure may be a stale keep-alive */
	unsigned long last_use;
};

/* The one request/response pair in flight (see docs/design-router.md). */
struct exchange {
	bool active;
	uint32_t up;
	uint32_t target;
	unsigned req_flags;
	bool req_done;
	bool resp_done;
	bool resp_seen;	   /* some response byte arrived */
	bool resp_started; /* some response byte went to the client */
	bool resp_close;
	bool reused;
	bool retried;
	bool replay_ok; /* replay holds every request byte sent so far */
	size_t replay_len;
};

/* A byte queue with a bounded capacity, allocated on first use. */
struct bytebuf {
	uint8_t *p;
	size_t off;
	size_t len;
	size_t cap;
};

#define MAX_DOWN 16u

struct router {
	const struct router_ops *ops;
	void *ctx;
	const struct route_table *table;
	struct router_limits lim;
	enum rstate state;
	struct http1_parser *req;
	struct http1_parser *resp;
	struct bytebuf cin; /* client bytes not yet forwarded */
	struct bytebuf uin; /* upstream bytes not yet forwarded (client blocked) */
	uint32_t uin_up;
	bool uin_eof; /* that upstream's FIN arrived behind the buffered bytes */
	uint8_t *replay;
	size_t replay_cap;
	struct upstream *ups;
	unsigned long clock;
	uint32_t next_id;
	struct exchange ex;
	uint32_t down[MAX_DOWN]; /* sessions that failed on this connection */
	unsigned ndown;
	uint32_t tunnel_up;
	bool tunnel_up_eof;
	bool client_blocked;
	bool client_eof;
	bool close_after;   /* close the client once the exchange completes */
	bool in_client;	    /* guards against processing the client buffer re-entrantly */
	struct h2proxy *h2; /* HTTP/2 prior knowledge: the connection is routed per stream */
	struct router_stats stats;
};

static size_t buf_used(const struct bytebuf *b)
{
	return b->len - b->off;
}

static size_t buf_room(const struct bytebuf *b, size_t cap)
{
	return cap - buf_used(b);
}

/* Appends as much of d as fits in cap; returns how much. */
static size_t buf_append(struct bytebuf *b, size_t cap, const void *d, size_t n)
{
	size_t room = buf_room(b, cap);

	if (n > room)
		n = room;
	if (n == 0)
		return 0;
	if (!b->p) {
		b->p = malloc(cap);
		if (!b->p)
			return 0;
		b->cap = cap;
	}
	if (b->off > 0 && b->len + n > b->cap) {
		memmove(b->p, b->p + b->off, buf_used(b));
		b->len -= b->off;
		b->off = 0;
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
	return n;
}

static void buf_consume(struct bytebuf *b, size_t n)
{
	b->off += n;
	if (b->off == b->len)
		b->off = b->len = 0;
}

struct router *router_new(const struct router_ops *ops, void *ctx, const struct route_table *table,
			  const struct router_limits *lim)
{
	struct router *r = calloc(1, sizeof(*r));

	if (!r)
		goto err;
	r->ops = ops;
	r->ctx = ctx;
	r->table = table;
	if (lim)
		r->lim = *lim;
	if (!r->lim.client_buf)
		r->lim.client_buf = ROUTER_DEFAULT_BUF;
	if (!r->lim.upstream_buf)
		r->lim.upstream_buf = ROUTER_DEFAULT_BUF;
	if (!r->lim.replay_buf)
		r->lim.replay_buf = ROUTER_DEFAULT_BUF;
	if (!r->lim.max_upstreams)
		r->lim.max_upstreams = ROUTER_DEFAULT_UPSTREAMS;
	if (!r->lim.sniff_timeout_ms)
		r->lim.sniff_timeout_ms = ROUTER_DEFAULT_SNIFF_TIMEOUT;
	r->ups = calloc(r->lim.max_upstreams, sizeof(*r->ups));
	r->req = http1_new(HTTP1_REQUEST, &r->lim.http);
	r->resp = http1_new(HTTP1_RESPONSE, &r->lim.http);
	if (!r->ups || !r->req || !r->resp)
		goto err_free;
	r->next_id = 1;
	r->state = R_SNIFF;
	return r;

err_free:
	router_free(r);
err:
	errno = ENOMEM;
	return NULL;
}

void router_free(struct router *r)
{
	if (!r)
		return;
	h2proxy_free(r->h2);
	http1_free(r->req);
	http1_free(r->resp);
	free(r->cin.p);
	free(r->uin.p);
	free(r->replay);
	free(r->ups);
	free(r);
}

/* ---- upstream slots ----------------------------------------------------------- */

static struct upstream *up_get(const struct router *r, uint32_t id)
{
	unsigned i;

	if (id == 0)
		return NULL;
	for (i = 0; i < r->lim.max_upstreams; i++)
		if (r->ups[i].id == id)
			return &r->ups[i];
	return NULL;
}

static void up_release(struct router *r, uint32_t id, bool reset)
{
	struct upstream *u = up_get(r, id);

	if (!u)
		return;
	u->id = 0;
	if (r->uin_up == id) {
		buf_consume(&r->uin, buf_used(&r->uin));
		r->uin_up = 0;
		r->uin_eof = false;
	}
	r->ops->upstream_close(r->ctx, id, reset);
}

static void release_all_but(struct router *r, uint32_t keep, bool reset)
{
	unsigned i;

	for (i = 0; i < r->lim.max_upstreams; i++)
		if (r->ups[i].id && r->ups[i].id != keep)
			up_release(r, r->ups[i].id, reset);
}

/* An idle connection to target, or a new one (evicting the least recently used idle one). */
static struct upstream *up_for_target(struct router *r, uint32_t target, bool fresh)
{
	struct upstream *u, *free_slot = NULL, *lru = NULL;
	unsigned i;

	for (i = 0; i < r->lim.max_upstreams; i++) {
		u = &r->ups[i];
		if (!u->id) {
			free_slot = free_slot ? free_slot : u;
			continue;
		}
		if (u->id == r->ex.up && r->ex.active)
			continue;
		if (!fresh && u->target == target) {
			u->last_use = ++r->clock;
			return u;
		}
		if (!lru || u->last_use < lru->last_use)
			lru = u;
	}
	if (!free_slot && lru) {
		up_release(r, lru->id, false);
		free_slot = lru;
	}
	if (!free_slot)
		return NULL;
	u = free_slot;
	memset(u, 0, sizeof(*u));
	u->id = r->next_id++;
	u->target = target;
	u->last_use = ++r->clock;
	if (r->ops->upstream_open(r->ctx, u->id, target) < 0) {
		u->id = 0;
		return NULL;
	}
	return u;
}

static bool target_down(const struct router *r, uint32_t target)
{
	unsigned i;

	for (i = 0; i < r->ndown && i < MAX_DOWN; i++)
		if (r->down[i] == target)
			return true;
	return false;
}

static void mark_down(struct router *r, uint32_t target)
{
	if (target == ROUTER_TARGET_APP || target_down(r, target))
		return;
	r->down[r->ndown++ % MAX_DOWN] = target;
}

/* ---- ending ------------------------------------------------------------------ */

static void finish(struct router *r, bool reset)
{
	if (r->state == R_CLOSED)
		return;
	r->state = R_CLOSED;
	release_all_but(r, 0, reset);
	r->ex.active = false;
	r->ops->client_close(r->ctx, reset);
}

static const char *status_text(int status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Bad Gateway";
	}
}

/*
 * Answers the client with a minimal error response and closes, or resets it
 * when part of another response already went out (nothing else is honest).
 */
static void fail_client(struct router *r, int status, const char *reason)
{
	char msg[512];
	int n;

	if (r->state == R_CLOSED)
		return;
	r->stats.errors++;
	if (r->ex.active && r->ex.resp_started) {
		finish(r, true);
		return;
	}
	n = snprintf(msg, sizeof(msg),
		     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
		     "Connection: close\r\n\r\n%s\n",
		     status, status_text(status), strlen(reason) + 1, reason);
	if (n > 0 && (size_t)n < sizeof(msg))
		r->ops->client_write(r->ctx, msg, (size_t)n);
	finish(r, false);
}

static bool write_client(struct router *r, const void *d, size_t n)
{
	if (n == 0)
		return true;
	if (r->ops->client_write(r->ctx, d, n) < 0) {
		finish(r, true);
		return false;
	}
	return true;
}

/* ---- requests ------------------------------------------------------------------ */

static void upstream_failed(struct router *r, uint32_t up);
static void process_client_buffer(struct router *r);

/* Makes room for need replay bytes, growing up to the limit. */
static int grow_replay(struct router *r, size_t need)
{
	size_t cap = r->replay_cap ? r->replay_cap : 4096;
	uint8_t *p;

	if (need > r->lim.replay_buf)
		return -ENOBUFS;
	if (need <= r->replay_cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (cap > r->lim.replay_buf)
		cap = r->lim.replay_buf;
	p = realloc(r->replay, cap);
	if (!p)
		return -ENOMEM;
	r->replay = p;
	r->replay_cap = cap;
	return 0;
}

static void send_upstream(struct router *r, const void *d, size_t n)
{
	uint32_t up = r->ex.up;

	if (n == 0)
		return;
	if (r->ex.replay_ok && !r->ex.resp_seen) {
		if (grow_replay(r, r->ex.replay_len + n) == 0) {
			memcpy(r->replay + r->ex.replay_len, d, n);
			r->ex.replay_len += n;
		} else {
			r->ex.replay_ok = false;
		}
	}
	if (r->ops->upstream_write(r->ctx, up, d, n) < 0)
		upstream_failed(r, up);
}

/* Starts the exchange for a complete request head: route, connect, forward the head. */
static void start_exchange(struct router *r, const struct http1_span *sp)
{
	const struct http1_head *h = http1_head(r->req);
	uint32_t target = route_table_pick(r->table, h);
	struct upstream *u;

	if (target_down(r, target))
		target = ROUTER_TARGET_APP;
	u = up_for_target(r, target, false);
	if (!u && target != ROUTER_TARGET_APP) {
		mark_down(r, target);
		target = ROUTER_TARGET_APP;
		u = up_for_target(r, target, false);
	}
	if (!u) {
		fail_client(r, 502, "cannot connect to the upstream");
		return;
	}
	memset(&r->ex, 0, sizeof(r->ex));
	r->ex.active = true;
	r->ex.up = u->id;
	r->ex.target = target;
	r->ex.req_flags = h->flags;
	r->ex.reused = u->used;
	r->ex.replay_ok = true;
	u->used = true;
	r->stats.requests++;
	if (target == ROUTER_TARGET_APP)
		r->stats.to_app++;
	else
		r->stats.to_sessions++;
	if (!(h->flags & HTTP1_F_KEEP_ALIVE))
		r->close_after = true;
	http1_expect(r->resp, h->flags);
	send_upstream(r, sp->raw, sp->raw_len);
}

static void complete_exchange(struct router *r)
{
	r->ex.active = false;
	if (r->ex.resp_close)
		up_release(r, r->ex.up, false);
	if (r->close_after) {
		finish(r, false);
		return;
	}
	process_client_buffer(r);
	if (r->state == R_HTTP && !r->ex.active && r->client_eof)
		finish(r, false);
}

static void request_error(struct router *r)
{
	enum http1_err err = http1_error(r->req);

	/* the upstream saw part of a request it will never see the end of */
	if (r->ex.active && !r->ex.req_done)
		up_release(r, r->ex.up, true);
	fail_client(r, http1_err_status(err), http1_strerror(err));
}

/* Routes and forwards requests from d; returns the bytes taken. */
static size_t consume_requests(struct router *r, const uint8_t *d, size_t len)
{
	size_t pos = 0;

	while (pos < len && r->state == R_HTTP) {
		struct http1_span sp;
		struct upstream *u;
		ssize_t n;

		/* one exchange at a time: later requests wait here, unread */
		if (r->ex.active && r->ex.req_done)
			break;
		if (r->ex.active) {
			u = up_get(r, r->ex.up);
			if (u && u->blocked)
				break;
		}
		n = http1_feed(r->req, d + pos, len - pos, &sp);
		if (n < 0) {
			request_error(r);
			return len;
		}
		pos += (size_t)n;
		if (sp.head)
			start_exchange(r, &sp);
		else if (r->ex.active && !r->ex.req_done)
			send_upstream(r, sp.raw, sp.raw_len);
		if (sp.end && r->state == R_HTTP && r->ex.active) {
			r->ex.req_done = true;
			if (r->ex.resp_done)
				complete_exchange(r);
		}
	}
	return r->state == R_CLOSED ? len : pos;
}

/* Tunnel: client bytes to the tunnel upstream. */
static size_t consume_tunnel_client(struct router *r, const uint8_t *d, size_t len)
{
	struct upstream *u = up_get(r, r->tunnel_up);

	if (!u)
		return len;
	if (u->blocked)
		return 0;
	if (r->ops->upstream_write(r->ctx, u->id, d, len) < 0)
		finish(r, true);
	return len;
}

static size_t consume_client(struct router *r, const uint8_t *d, size_t len)
{
	switch (r->state) {
	case R_HTTP:
		return consume_requests(r, d, len);
	case R_OPAQUE:
		return consume_tunnel_client(r, d, len);
	case R_CLOSED:
		return len;
	default:
		return 0;
	}
}

static void process_client_buffer(struct router *r)
{
	size_t n;

	if (r->in_client)
		return;
	r->in_client = true;
	while (buf_used(&r->cin) > 0 && r->state != R_CLOSED && r->state != R_SNIFF) {
		n = consume_client(r, r->cin.p + r->cin.off, buf_used(&r->cin));
		if (n == 0)
			break;
		buf_consume(&r->cin, n);
	}
	r->in_client = false;
}

static void start_tunnel(struct router *r, uint32_t up)
{
	r->state = R_OPAQUE;
	r->tunnel_up = up;
	r->ex.active = false;
	release_all_but(r, up, false);
	process_client_buffer(r);
	if (r->state == R_OPAQUE && r->client_eof && buf_used(&r->cin) == 0)
		r->ops->upstream_shutdown(r->ctx, up);
}

static void start_passthrough(struct router *r)
{
	struct upstream *u = up_for_target(r, ROUTER_TARGET_APP, true);

	if (!u) {
		finish(r, true);
		return;
	}
	r->stats.passthrough = true;
	r->stats.to_app++;
	start_tunnel(r, u->id);
}

/*
 * The HTTP/2 client preface hands the connection to the per-stream proxy
 * (agent/l7/h2proxy.h); true when it did, or when a prefix of the preface
 * needs more bytes.
 */
static bool sniff_h2(struct router *r)
{
	size_t n = buf_used(&r->cin);
	int s = h2proxy_sniff(r->cin.p + r->cin.off, n);

	if (s <= 0)
		return s == 0 && n < r->lim.client_buf;
	r->h2 = h2proxy_new(r->ops, r->ctx, r->table, &r->stats);
	if (!r->h2) {
		finish(r, true);
		return true;
	}
	h2proxy_client_data(r->h2, r->cin.p + r->cin.off, n);
	buf_consume(&r->cin, n);
	return true;
}

static void sniff(struct router *r)
{
	size_t n = buf_used(&r->cin);
	enum http1_sniff s;

	if (n == 0 || sniff_h2(r))
		return;
	s = http1_sniff(r->cin.p + r->cin.off, n);
	if (s == HTTP1_SNIFF_MORE && n < ROUTER_SNIFF_MAX && n < r->lim.client_buf)
		return;
	if (s == HTTP1_SNIFF_NOT_HTTP) {
		start_passthrough(r);
		return;
	}
	r->state = R_HTTP;
	process_client_buffer(r);
}

size_t router_client_data(struct router *r, const void *data, size_t len)
{
	const uint8_t *d = data;
	size_t taken = 0, n;

	if (r->h2)
		return h2proxy_client_data(r->h2, data, len);
	if (r->state == R_CLOSED)
		return len;
	/* the common case forwards straight from the caller's buffer */
	if (buf_used(&r->cin) == 0 && r->state != R_SNIFF && !r->in_client) {
		r->in_client = true;
		taken = consume_client(r, d, len);
		r->in_client = false;
		if (r->state == R_CLOSED)
			return len;
	}
	n = buf_append(&r->cin, r->lim.client_buf, d + taken, len - taken);
	taken += n;
	if (r->state == R_SNIFF)
		sniff(r);
	else if (n > 0)
		process_client_buffer(r);
	return r->state == R_CLOSED ? len : taken;
}

void router_client_eof(struct router *r)
{
	if (r->h2)
		return h2proxy_client_eof(r->h2);
	r->client_eof = true;
	switch (r->state) {
	case R_SNIFF:
		if (buf_used(&r->cin) == 0)
			finish(r, false);
		else
			start_passthrough(r);
		break;
	case R_OPAQUE:
		if (r->tunnel_up_eof)
			finish(r, false);
		else if (buf_used(&r->cin) == 0)
			r->ops->upstream_shutdown(r->ctx, r->tunnel_up);
		break;
	case R_HTTP:
		/* a cut request is dropped; a complete one still gets its answer */
		if (r->ex.active && !r->ex.req_done)
			finish(r, r->ex.resp_started);
		else if (!r->ex.active)
			finish(r, false);
		break;
	default:
		break;
	}
}

void router_timeout(struct router *r)
{
	/* an HTTP/2 connection stays in the sniff state: its timer means nothing */
	if (r->state == R_SNIFF && !r->h2)
		start_passthrough(r);
}

/* ---- responses ------------------------------------------------------------------ */

/* The exchange's upstream failed before a response byte arrived: retry, fall back or 502. */
static void retry_elsewhere(struct router *r)
{
	uint32_t target = r->ex.target;
	struct upstream *u = NULL;

	if (!r->ex.replay_ok || r->ex.resp_seen) {
		fail_client(r, 502, "upstream failed");
		return;
	}
	/* a reused keep-alive connection may just have timed out: try a fresh one first */
	if (r->ex.reused && !r->ex.retried) {
		u = up_for_target(r, target, true);
		if (u)
			r->stats.retries++;
	}
	if (!u && target != ROUTER_TARGET_APP) {
		mark_down(r, target);
		target = ROUTER_TARGET_APP;
		/* fresh: an idle app connection could be stale too, and this is the last try */
		u = up_for_target(r, target, true);
		if (u)
			r->stats.fallbacks++;
	}
	if (!u) {
		fail_client(r, 502, "upstream failed");
		return;
	}
	u->used = true;
	r->ex.retried = true;
	r->ex.up = u->id;
	r->ex.target = target;
	r->ex.reused = false;
	/* the failed upstream may have left a partial head in the parser */
	http1_free(r->resp);
	r->resp = http1_new(HTTP1_RESPONSE, &r->lim.http);
	if (!r->resp) {
		finish(r, true);
		return;
	}
	http1_expect(r->resp, r->ex.req_flags);
	if (r->ops->upstream_write(r->ctx, u->id, r->replay, r->ex.replay_len) < 0)
		upstream_failed(r, u->id);
	else
		process_client_buffer(r);
}

static void upstream_failed(struct router *r, uint32_t up)
{
	bool active = r->state == R_HTTP && r->ex.active && r->ex.up == up;

	up_release(r, up, true);
	if (r->state == R_OPAQUE && up == r->tunnel_up) {
		finish(r, true);
		return;
	}
	if (!active)
		return;
	if (!r->ex.resp_seen) {
		retry_elsewhere(r);
		return;
	}
	/* the response began: nothing can be resent, and an error page would interleave */
	if (r->ex.resp_done)
		finish(r, false);
	else if (r->ex.resp_started)
		finish(r, true);
	else
		fail_client(r, 502, "upstream failed");
}

static void response_error(struct router *r)
{
	enum http1_err err = http1_error(r->resp);
	char why[128];

	snprintf(why, sizeof(why), "invalid response from upstream: %s", http1_strerror(err));
	up_release(r, r->ex.up, true);
	fail_client(r, 502, why);
}

static void response_end(struct router *r)
{
	r->ex.resp_done = true;
	if (r->ex.resp_close)
		r->close_after = true;
	if (r->ex.req_done) {
		complete_exchange(r);
		return;
	}
	/* an early answer that closes: the rest of the request has nowhere to go */
	if (r->ex.resp_close)
		finish(r, false);
}

/* Forwards response bytes from the exchange's upstream; returns the bytes taken. */
static size_t consume_responses(struct router *r, uint32_t up, const uint8_t *d, size_t len)
{
	size_t pos = 0;

	while (pos < len) {
		const struct http1_head *h;
		struct http1_span sp;
		ssize_t n;

		if (r->state == R_CLOSED)
			return len;
		if (r->state == R_OPAQUE && up == r->tunnel_up) {
			if (r->client_blocked)
				break;
			write_client(r, d + pos, len - pos);
			return len;
		}
		if (r->state != R_HTTP || !r->ex.active || r->ex.up != up || r->ex.resp_done) {
			/* nobody asked: an upstream that talks out of turn is dropped */
			upstream_failed(r, up);
			return len;
		}
		if (r->client_blocked)
			break;
		n = http1_feed(r->resp, d + pos, len - pos, &sp);
		if (n < 0) {
			response_error(r);
			return len;
		}
		pos += (size_t)n;
		r->ex.resp_seen = true;
		if (sp.raw_len) {
			r->ex.resp_started = true;
			if (!write_client(r, sp.raw, sp.raw_len))
				return len;
		}
		if (sp.head) {
			h = http1_head(r->resp);
			if (h->flags & HTTP1_F_SWITCHED) {
				r->stats.upgraded = true;
				start_tunnel(r, up);
				continue;
			}
			if (!(h->flags & HTTP1_F_INTERIM))
				r->ex.resp_close = !(h->flags & HTTP1_F_KEEP_ALIVE);
		}
		if (sp.end && !(sp.head && (http1_head(r->resp)->flags & HTTP1_F_INTERIM)))
			response_end(r);
	}
	return r->state == R_CLOSED ? len : pos;
}

static void upstream_eof_now(struct router *r, uint32_t up)
{
	int rc;

	if (r->state == R_OPAQUE && up == r->tunnel_up) {
		r->tunnel_up_eof = true;
		r->ops->client_shutdown(r->ctx);
		if (r->client_eof)
			finish(r, false);
		return;
	}
	if (!(r->state == R_HTTP && r->ex.active && r->ex.up == up)) {
		up_release(r, up, false); /* an idle keep-alive connection closed */
		return;
	}
	rc = r->ex.resp_done ? 0 : http1_finish(r->resp);
	if (rc == 1) {
		/* the close ended the body: complete, and the connection is spent */
		r->ex.resp_close = true;
		response_end(r);
		return;
	}
	if (r->ex.resp_done) {
		/* answered early, then closed while the request was still coming */
		finish(r, false);
		return;
	}
	upstream_failed(r, up);
}

static void drain_upstream_buffer(struct router *r)
{
	uint32_t up = r->uin_up;
	size_t n;

	while (buf_used(&r->uin) > 0 && r->uin_up == up && r->state != R_CLOSED) {
		n = consume_responses(r, up, r->uin.p + r->uin.off, buf_used(&r->uin));
		if (n == 0)
			return;
		if (r->uin_up == up)
			buf_consume(&r->uin, n);
	}
	if (r->uin_up == up && r->uin_eof && buf_used(&r->uin) == 0) {
		r->uin_eof = false;
		r->uin_up = 0;
		upstream_eof_now(r, up);
	}
}

size_t router_upstream_data(struct router *r, uint32_t up, const void *data, size_t len)
{
	const uint8_t *d = data;
	size_t taken = 0;

	if (r->h2)
		return h2proxy_upstream_data(r->h2, up, data, len);
	if (r->state == R_CLOSED || !up_get(r, up))
		return len;
	if (buf_used(&r->uin) > 0 && r->uin_up != up) {
		/* only the exchange's upstream may talk while its bytes wait */
		upstream_failed(r, up);
		return len;
	}
	if (buf_used(&r->uin) == 0) {
		taken = consume_responses(r, up, d, len);
		if (r->state == R_CLOSED || taken == len || !up_get(r, up))
			return len;
	}
	r->uin_up = up;
	taken += buf_append(&r->uin, r->lim.upstream_buf, d + taken, len - taken);
	drain_upstream_buffer(r);
	return r->state == R_CLOSED ? len : taken;
}

void router_upstream_eof(struct router *r, uint32_t up)
{
	if (r->h2)
		return h2proxy_upstream_eof(r->h2, up);
	if (r->state == R_CLOSED || !up_get(r, up))
		return;
	if (r->uin_up == up && buf_used(&r->uin) > 0) {
		r->uin_eof = true; /* after the buffered bytes */
		return;
	}
	upstream_eof_now(r, up);
}

void router_upstream_error(struct router *r, uint32_t up, int err)
{
	if (r->h2)
		return h2proxy_upstream_error(r->h2, up, err);
	(void)err;
	if (r->state == R_CLOSED || !up_get(r, up))
		return;
	upstream_failed(r, up);
}

/* ---- flow control and queries ---------------------------------------------------- */

void router_set_client_blocked(struct router *r, bool blocked)
{
	if (r->h2)
		return h2proxy_set_client_blocked(r->h2, blocked);
	r->client_blocked = blocked;
	if (!blocked)
		drain_upstream_buffer(r);
}

void router_set_upstream_blocked(struct router *r, uint32_t up, bool blocked)
{
	struct upstream *u = up_get(r, up);

	if (r->h2)
		return h2proxy_set_upstream_blocked(r->h2, up, blocked);
	if (!u)
		return;
	u->blocked = blocked;
	if (!blocked) {
		process_client_buffer(r);
		if (r->state == R_OPAQUE && r->client_eof && buf_used(&r->cin) == 0 &&
		    up == r->tunnel_up)
			r->ops->upstream_shutdown(r->ctx, up);
	}
}

size_t router_client_room(const struct router *r)
{
	if (r->h2) {
		size_t room = h2proxy_client_room(r->h2);
		return room < r->lim.client_buf ? room : r->lim.client_buf;
	}
	if (r->state == R_CLOSED)
		return 0;
	return buf_room(&r->cin, r->lim.client_buf);
}

size_t router_upstream_room(const struct router *r, uint32_t up)
{
	if (r->h2) {
		size_t room = h2proxy_upstream_room(r->h2, up);
		return room < r->lim.upstream_buf ? room : r->lim.upstream_buf;
	}
	if (r->state == R_CLOSED || !up_get(r, up))
		return 0;
	if (buf_used(&r->uin) > 0 && r->uin_up != up)
		return 0;
	return buf_room(&r->uin, r->lim.upstream_buf);
}

unsigned router_sniff_timeout_ms(const struct router *r)
{
	return r->lim.sniff_timeout_ms;
}

bool router_done(const struct router *r)
{
	if (r->h2)
		return h2proxy_done(r->h2);
	return r->state == R_CLOSED;
}

const struct router_stats *router_stats(const struct router *r)
{
	return &r->stats;
}
