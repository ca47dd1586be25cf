/* Unit tests for the per-connection L7 router, driven through recording fake callbacks. */
#include "router.h"
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MAX_UP	 64
#define DATA_CAP 8192
#define SID_A	 10u
#define SID_B	 20u

struct fake_up {
	uint32_t target;
	char data[DATA_CAP]; /* the first bytes not yet checked */
	size_t len;
	size_t total;
	bool open;
	bool closed;
	bool reset;
	bool shut;
};

struct fake {
	char client[DATA_CAP];
	size_t client_len;
	size_t client_total;
	bool client_closed;
	bool client_reset;
	bool client_shut;
	struct fake_up up[MAX_UP];
	uint32_t fail_open; /* target whose connect fails at once */
	bool fail_client_write;
	unsigned opens;
};

static struct fake F;
static struct route_table *table;
static struct router *R;
static size_t step; /* feed in pieces of this many bytes (0: whole) */

static int cb_client_write(void *ctx, const void *d, size_t n)
{
	struct fake *f = ctx;

	ck_assert(!f->client_closed);
	if (f->fail_client_write)
		return -EPIPE;
	if (f->client_len + n <= DATA_CAP) {
		memcpy(f->client + f->client_len, d, n);
		f->client_len += n;
	}
	f->client_total += n;
	return 0;
}

static void cb_client_shutdown(void *ctx)
{
	((struct fake *)ctx)->client_shut = true;
}

static void cb_client_close(void *ctx, bool reset)
{
	struct fake *f = ctx;

	ck_assert(!f->client_closed);
	f->client_closed = true;
	f->client_reset = reset;
}

static int cb_up_open(void *ctx, uint32_t up, uint32_t target)
{
	struct fake *f = ctx;

	ck_assert_uint_lt(up, MAX_UP);
	ck_assert(!f->up[up].open && !f->up[up].closed);
	if (target == f->fail_open)
		return -ECONNREFUSED;
	f->up[up].open = true;
	f->up[up].target = target;
	f->opens++;
	return 0;
}

static int cb_up_write(void *ctx, uint32_t up, const void *d, size_t n)
{
	struct fake *f = ctx;
	struct fake_up *u = &f->up[up];

	ck_assert(u->open && !u->closed && !u->shut);
	if (u->len + n <= DATA_CAP) {
		memcpy(u->data + u->len, d, n);
		u->len += n;
	}
	u->total += n;
	return 0;
}

static void cb_up_shutdown(void *ctx, uint32_t up)
{
	((struct fake *)ctx)->up[up].shut = true;
}

static void cb_up_close(void *ctx, uint32_t up, bool reset)
{
	struct fake *f = ctx;

	ck_assert(f->up[up].open && !f->up[up].closed);
	f->up[up].closed = true;
	f->up[up].reset = reset;
}

static const struct router_ops ops = {
    .client_write = cb_client_write,
    .client_shutdown = cb_client_shutdown,
    .client_close = cb_client_close,
    .upstream_open = cb_up_open,
    .upstream_write = cb_up_write,
    .upstream_shutdown = cb_up_shutdown,
    .upstream_close = cb_up_close,
};

static void add_session(uint32_t sid, const char *hre)
{
	struct httpfilter *f = httpfilter_new(hre, NULL, NULL, 0);

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(route_table_add(table, sid, f), 0);
}

static void new_router(const struct router_limits *lim)
{
	router_free(R);
	memset(&F, 0, sizeof(F));
	F.fail_open = 0xffffffffu;
	R = router_new(&ops, &F, table, lim);
	ck_assert_ptr_nonnull(R);
}

static void setup(void)
{
	table = route_table_new();
	ck_assert_ptr_nonnull(table);
	add_session(SID_A, "^X-Dev: team-a$");
	add_session(SID_B, "^X-Dev: team-b$");
	step = 0;
	new_router(NULL);
}

static void teardown(void)
{
	router_free(R);
	R = NULL;
	route_table_free(table);
	table = NULL;
}

static void client_send(const char *s)
{
	size_t len = strlen(s), off = 0;

	while (off < len) {
		size_t n = step && step < len - off ? step : len - off;
		size_t got = router_client_data(R, s + off, n);

		/* a caller offers what was not taken again: it must be taken eventually */
		ck_assert_uint_gt(got, 0);
		off += got;
	}
}

static void up_send(uint32_t up, const char *s)
{
	size_t len = strlen(s), off = 0;

	while (off < len) {
		size_t n = step && step < len - off ? step : len - off;

		ck_assert_uint_eq(router_upstream_data(R, up, s + off, n), n);
		off += n;
	}
}

/* The upstream received exactly s since the last check. */
static void up_expect(uint32_t up, const char *s)
{
	struct fake_up *u = &F.up[up];

	ck_assert_msg(u->len == strlen(s) && memcmp(u->data, s, u->len) == 0,
		      "upstream %u got '%.*s', want '%s'", up, (int)u->len, u->data, s);
	u->len = 0;
}

static void client_expect(const char *s)
{
	ck_assert_msg(F.client_len == strlen(s) && memcmp(F.client, s, F.client_len) == 0,
		      "client got '%.*s', want '%s'", (int)F.client_len, F.client, s);
	F.client_len = 0;
}

/* Upstream id whose target is target and is still open, or 0. */
static uint32_t open_up_for(uint32_t target)
{
	uint32_t i;

	for (i = 1; i < MAX_UP; i++)
		if (F.up[i].open && !F.up[i].closed && F.up[i].target == target)
			return i;
	return 0;
}

/* The most recently opened upstream for target that is still open, or 0. */
static uint32_t newest_up_for(uint32_t target)
{
	uint32_t i;

	for (i = MAX_UP - 1; i > 0; i--)
		if (F.up[i].open && !F.up[i].closed && F.up[i].target == target)
			return i;
	return 0;
}

#define REQ_A	   "GET /a HTTP/1.1\r\nHost: s\r\nX-Dev: team-a\r\n\r\n"
#define REQ_B	   "GET /b HTTP/1.1\r\nHost: s\r\nX-Dev: team-b\r\n\r\n"
#define REQ_N	   "GET /n HTTP/1.1\r\nHost: s\r\n\r\n"
#define RESP(body) "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n" body

START_TEST(route_table_order)
{
	struct http1_parser *p = http1_new(HTTP1_REQUEST, NULL);
	static const char req[] = "GET / HTTP/1.1\r\nX-Dev: team-a\r\nX-Dev: team-b\r\n\r\n";
	static const char probe[] = "GET /healthz HTTP/1.1\r\nUser-Agent: kube-probe/1.29\r\n"
				    "X-Dev: team-a\r\n\r\n";
	struct http1_span sp;

	http1_feed(p, req, sizeof(req) - 1, &sp);
	/* both match: the first attached wins */
	ck_assert_uint_eq(route_table_pick(table, http1_head(p)), SID_A);
	ck_assert_int_eq(route_table_set_ready(table, SID_A, false), 0);
	ck_assert_uint_eq(route_table_pick(table, http1_head(p)), SID_B);
	ck_assert_int_eq(route_table_remove(table, SID_B), 0);
	ck_assert_uint_eq(route_table_pick(table, http1_head(p)), ROUTER_TARGET_APP);
	ck_assert_int_eq(route_table_set_ready(table, SID_A, true), 0);
	ck_assert_uint_eq(route_table_pick(table, http1_head(p)), SID_A);
	ck_assert_int_eq(route_table_remove(table, SID_B), -ENOENT);
	ck_assert_int_eq(route_table_add(table, SID_A, httpfilter_new("x", NULL, NULL, 0)),
			 -EEXIST);
	ck_assert_int_eq(route_table_add(table, 0, httpfilter_new("x", NULL, NULL, 0)), -EINVAL);
	ck_assert_uint_eq(route_table_count(table), 1);

	http1_free(p);
	p = http1_new(HTTP1_REQUEST, NULL);
	http1_feed(p, probe, sizeof(probe) - 1, &sp);
	ck_assert_uint_eq(route_table_pick(table, http1_head(p)), ROUTER_TARGET_APP);
	http1_free(p);
}
END_TEST

static uint32_t pick_for(const struct route_table *t, const char *req)
{
	struct http1_parser *p = http1_new(HTTP1_REQUEST, NULL);
	struct http1_span sp;
	uint32_t sid;

	ck_assert_ptr_nonnull(p);
	http1_feed(p, req, strlen(req), &sp);
	ck_assert_ptr_nonnull(http1_head(p));
	sid = route_table_pick(t, http1_head(p));
	http1_free(p);
	return sid;
}

/* The policy's header check holds whatever the session's filter matches (issue 11). */
START_TEST(required_header_per_request)
{
	static const struct {
		const char *req;
		uint32_t want;
	} cases[] = {
	    {"GET / HTTP/1.1\r\nX-Dev: alice\r\n\r\n", SID_A},
	    {"GET / HTTP/1.1\r\nx-dev:   alice  \r\n\r\n", SID_A},
	    {"GET / HTTP/1.1\r\nX-Dev: alice2\r\n\r\n", ROUTER_TARGET_APP},
	    {"GET / HTTP/1.1\r\nX-Dev: ALICE\r\n\r\n", ROUTER_TARGET_APP},
	    {"GET / HTTP/1.1\r\nX-Dev: alice, bob\r\n\r\n", ROUTER_TARGET_APP},
	    {"GET / HTTP/1.1\r\nX-Dev: alice\r\nX-Dev: bob\r\n\r\n", ROUTER_TARGET_APP},
	    {"GET / HTTP/1.1\r\nReferer: http://h/?X-Dev: alice\r\n\r\n", ROUTER_TARGET_APP},
	    {"GET / HTTP/1.1\r\nX-Dev-Other: alice\r\n\r\n", ROUTER_TARGET_APP},
	    {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", ROUTER_TARGET_APP},
	};
	struct route_table *t = route_table_new();

	ck_assert_ptr_nonnull(t);
	/* A filter that matches every request: only the requirement keeps others' requests. */
	ck_assert_int_eq(route_table_add(t, SID_A, httpfilter_new("X-Dev:|.", NULL, NULL, 0)), 0);
	ck_assert_int_eq(route_table_require_header(t, SID_A, "X-Dev", "alice"), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(pick_for(t, cases[i].req) == cases[i].want, "case %zu", i);
	ck_assert_int_eq(route_table_require_header(t, SID_B, "X-Dev", "bob"), -ENOENT);
	ck_assert_int_eq(route_table_require_header(t, SID_A, "X-Dev", ""), -EINVAL);
	ck_assert_int_eq(route_table_require_header(t, SID_A, "", "bob"), -EINVAL);
	/* Without the requirement the filter alone decides. */
	ck_assert_int_eq(route_table_remove(t, SID_A), 0);
	ck_assert_int_eq(route_table_add(t, SID_A, httpfilter_new("X-Dev:|.", NULL, NULL, 0)), 0);
	ck_assert_uint_eq(pick_for(t, "GET / HTTP/1.1\r\nHost: h\r\n\r\n"), SID_A);
	route_table_free(t);
}
END_TEST

START_TEST(single_request_to_app)
{
	uint32_t app;

	client_send(REQ_N);
	app = open_up_for(ROUTER_TARGET_APP);
	ck_assert_uint_ne(app, 0);
	up_expect(app, REQ_N);
	up_send(app, RESP("x"));
	client_expect(RESP("x"));
	ck_assert(!F.client_closed);
	ck_assert_uint_eq(router_stats(R)->to_app, 1);
	router_client_eof(R);
	ck_assert(F.client_closed && !F.client_reset);
	ck_assert(F.up[app].closed);
}
END_TEST

/* One keep-alive connection whose requests alternate team-a, team-b and no header: each goes
 * to its own target, in order, whatever the pieces the bytes arrive in. */
static void alternate(size_t piece)
{
	static const char *const reqs[3] = {REQ_A, REQ_B, REQ_N};
	static const uint32_t targets[3] = {SID_A, SID_B, ROUTER_TARGET_APP};
	int i;

	step = piece;
	new_router(NULL);
	for (i = 0; i < 300; i++) {
		uint32_t up;
		char body[2] = {(char)('a' + i % 3), 0};
		char resp[64];

		client_send(reqs[i % 3]);
		up = open_up_for(targets[i % 3]);
		ck_assert_uint_ne(up, 0);
		up_expect(up, reqs[i % 3]);
		snprintf(resp, sizeof(resp), RESP("%s"), body);
		up_send(up, resp);
		client_expect(resp);
	}
	/* one upstream connection per target, kept alive */
	ck_assert_uint_eq(F.opens, 3);
	ck_assert_uint_eq(router_stats(R)->to_sessions, 200);
	ck_assert_uint_eq(router_stats(R)->to_app, 100);
	ck_assert(!F.client_closed);
}

START_TEST(keepalive_alternating)
{
	alternate(0);
	alternate(1);
	alternate(7);
}
END_TEST

START_TEST(pipelining_in_order)
{
	uint32_t a, b, n;

	/* three requests in one segment: each waits for the previous response */
	client_send(REQ_A REQ_B REQ_N);
	a = open_up_for(SID_A);
	ck_assert_uint_ne(a, 0);
	up_expect(a, REQ_A);
	ck_assert_uint_eq(open_up_for(SID_B), 0);
	up_send(a, RESP("a"));
	client_expect(RESP("a"));
	b = open_up_for(SID_B);
	up_expect(b, REQ_B);
	ck_assert_uint_eq(open_up_for(ROUTER_TARGET_APP), 0);
	up_send(b, RESP("b"));
	client_expect(RESP("b"));
	n = open_up_for(ROUTER_TARGET_APP);
	up_expect(n, REQ_N);
	up_send(n, RESP("n"));
	client_expect(RESP("n"));
	/* a client that half-closes after pipelining still gets every answer */
	client_send(REQ_B REQ_A);
	router_client_eof(R);
	ck_assert(!F.client_closed);
	up_expect(b, REQ_B);
	up_send(b, RESP("b"));
	up_expect(a, REQ_A);
	up_send(a, RESP("a"));
	client_expect(RESP("b") RESP("a"));
	ck_assert(F.client_closed && !F.client_reset);
}
END_TEST

START_TEST(pipelining_one_byte)
{
	uint32_t a, b;

	step = 1;
	client_send(REQ_A REQ_B);
	a = open_up_for(SID_A);
	up_expect(a, REQ_A);
	up_send(a, RESP("a"));
	b = open_up_for(SID_B);
	up_expect(b, REQ_B);
	up_send(b, RESP("b"));
	client_expect(RESP("a") RESP("b"));
}
END_TEST

START_TEST(bodies_both_directions)
{
	static const char req[] =
	    "POST /up HTTP/1.1\r\nX-Dev: team-b\r\nTransfer-Encoding: chunked\r\n"
	    "\r\n4;x=y\r\nabcd\r\n0\r\nT: 1\r\n\r\n";
	static const char resp[] = "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
				   "2\r\nok\r\n0\r\n\r\n";
	uint32_t b;

	step = 3;
	client_send(req);
	client_send(REQ_N);
	b = open_up_for(SID_B);
	up_expect(b, req);
	up_send(b, resp);
	client_expect(resp);
	up_expect(open_up_for(ROUTER_TARGET_APP), REQ_N);
}
END_TEST

START_TEST(expect_continue)
{
	static const char head[] = "PUT /f HTTP/1.1\r\nX-Dev: team-a\r\nExpect: 100-continue\r\n"
				   "Content-Length: 5\r\n\r\n";
	uint32_t a;

	client_send(head);
	a = open_up_for(SID_A);
	up_expect(a, head);
	up_send(a, "HTTP/1.1 100 Continue\r\n\r\n");
	client_expect("HTTP/1.1 100 Continue\r\n\r\n");
	client_send("hello");
	up_expect(a, "hello");
	up_send(a, RESP("k"));
	client_expect(RESP("k"));
	client_send(REQ_A);
	up_expect(a, REQ_A);
}
END_TEST

START_TEST(head_and_no_body_statuses)
{
	static const char head_req[] = "HEAD /a HTTP/1.1\r\n\r\n";
	static const char head_resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
	static const char r204[] = "HTTP/1.1 204 No Content\r\n\r\n";
	static const char r304[] = "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n";
	uint32_t n;

	client_send(head_req);
	n = open_up_for(ROUTER_TARGET_APP);
	up_expect(n, head_req);
	up_send(n, head_resp);
	client_expect(head_resp);
	client_send(REQ_N);
	up_expect(n, REQ_N);
	up_send(n, r204);
	client_expect(r204);
	client_send(REQ_N);
	up_expect(n, REQ_N);
	up_send(n, r304);
	client_expect(r304);
	client_send(REQ_N);
	up_expect(n, REQ_N);
}
END_TEST

START_TEST(connection_close)
{
	static const char req[] = "GET /c HTTP/1.1\r\nConnection: close\r\n\r\n";
	static const char req10[] = "GET /d HTTP/1.0\r\n\r\n";
	uint32_t n;

	/* the client asks to close: after the response, everything closes */
	client_send(req);
	client_send(REQ_N); /* ignored: sent after close */
	n = open_up_for(ROUTER_TARGET_APP);
	up_expect(n, req);
	up_send(n, RESP("c"));
	client_expect(RESP("c"));
	ck_assert(F.client_closed && !F.client_reset);
	ck_assert(F.up[n].closed);

	/* the upstream says close */
	new_router(NULL);
	client_send(REQ_N);
	n = open_up_for(ROUTER_TARGET_APP);
	up_send(n, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
	ck_assert(F.client_closed);

	/* HTTP/1.0 and a body that runs until the upstream closes */
	new_router(NULL);
	client_send(req10);
	n = open_up_for(ROUTER_TARGET_APP);
	up_expect(n, req10);
	up_send(n, "HTTP/1.0 200 OK\r\n\r\nall of it");
	ck_assert(!F.client_closed);
	router_upstream_eof(R, n);
	client_expect("HTTP/1.0 200 OK\r\n\r\nall of it");
	ck_assert(F.client_closed && !F.client_reset);

	/* such an answer arriving before the request body is complete */
	new_router(NULL);
	client_send("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
	n = open_up_for(ROUTER_TARGET_APP);
	up_send(n, "HTTP/1.1 413 Too Large\r\n\r\nno");
	router_upstream_eof(R, n);
	client_expect("HTTP/1.1 413 Too Large\r\n\r\nno");
	ck_assert(F.client_closed && !F.client_reset);
	ck_assert(F.up[n].closed);
}
END_TEST

START_TEST(upgrade_to_session)
{
	static const char req[] = "GET /ws HTTP/1.1\r\nX-Dev: team-a\r\nConnection: Upgrade\r\n"
				  "Upgrade: websocket\r\n\r\n";
	static const char resp[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
				   "Upgrade: websocket\r\n\r\n";
	uint32_t a, n;

	/* an earlier request keeps an app connection that the upgrade closes */
	client_send(REQ_N);
	n = open_up_for(ROUTER_TARGET_APP);
	up_send(n, RESP("n"));
	F.client_len = 0;
	client_send(req);
	client_send("\x81\x02hi"); /* held: it may not be HTTP any more */
	a = open_up_for(SID_A);
	up_expect(a, req);
	up_send(a, resp);
	up_send(a, "\x81\x03"
		   "abc");
	client_expect("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
		      "Upgrade: websocket\r\n\r\n\x81\x03"
		      "abc");
	up_expect(a, "\x81\x02hi");
	ck_assert(F.up[n].closed);
	ck_assert(router_stats(R)->upgraded);
	client_send("GET / HTTP/1.1\r\n\r\n"); /* opaque now */
	up_expect(a, "GET / HTTP/1.1\r\n\r\n");
	router_client_eof(R);
	ck_assert(F.up[a].shut);
	up_send(a, "bye");
	router_upstream_eof(R, a);
	client_expect("bye");
	ck_assert(F.client_shut);
	ck_assert(F.client_closed && !F.client_reset);
}
END_TEST

START_TEST(upgrade_declined)
{
	static const char req[] = "GET /ws HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n";
	uint32_t n;

	client_send(req);
	client_send(REQ_N);
	n = open_up_for(ROUTER_TARGET_APP);
	up_expect(n, req);
	up_send(n, RESP("1"));
	up_expect(n, REQ_N);
	up_send(n, RESP("2"));
	client_expect(RESP("1") RESP("2"));
	ck_assert(!router_stats(R)->upgraded);
}
END_TEST

START_TEST(non_http_passthrough)
{
	static const char hello[] = "\x16\x03\x01\x00\x05hello";
	uint32_t n;

	ck_assert_uint_eq(router_client_data(R, hello, sizeof(hello) - 1), sizeof(hello) - 1);
	n = open_up_for(ROUTER_TARGET_APP);
	ck_assert_uint_ne(n, 0);
	ck_assert_uint_eq(F.up[n].len, sizeof(hello) - 1);
	ck_assert_mem_eq(F.up[n].data, hello, sizeof(hello) - 1);
	F.up[n].len = 0;
	ck_assert(router_stats(R)->passthrough);
	up_send(n, "server bytes");
	client_expect("server bytes");
	client_send("X-Dev: team-a\r\n\r\n");
	up_expect(n, "X-Dev: team-a\r\n\r\n");

	/* a protocol where the server speaks first: the sniff timer passes it through */
	new_router(NULL);
	ck_assert_uint_eq(router_sniff_timeout_ms(R), ROUTER_DEFAULT_SNIFF_TIMEOUT);
	router_timeout(R);
	n = open_up_for(ROUTER_TARGET_APP);
	ck_assert_uint_ne(n, 0);
	up_send(n, "220 smtp ready\r\n");
	client_expect("220 smtp ready\r\n");

	/* a Redis command split byte by byte */
	new_router(NULL);
	step = 1;
	client_send("SET a b\r\n");
	n = open_up_for(ROUTER_TARGET_APP);
	up_expect(n, "SET a b\r\n");
	/* the request line of HTTP arriving slowly is not passed through */
	new_router(NULL);
	client_send("GET /a HTT");
	ck_assert_uint_eq(F.opens, 0);
	client_send("P/1.1\r\nX-Dev: team-b\r\n\r\n");
	ck_assert_uint_ne(open_up_for(SID_B), 0);
	/* an HTTP/2 prior-knowledge preface is routed per stream (test_h2proxy.c) */
	new_router(NULL);
	client_send("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
	ck_assert_uint_eq(F.opens, 0);
	ck_assert_uint_ge(F.client_len, 9);
	ck_assert_int_eq(F.client[3], 4); /* our SETTINGS frame */
}
END_TEST

START_TEST(session_gone_before_response)
{
	uint32_t a, n;

	client_send(REQ_A);
	a = open_up_for(SID_A);
	up_expect(a, REQ_A);
	/* the developer's app is not listening: the session resets the stream */
	router_upstream_error(R, a, -ECONNREFUSED);
	ck_assert(F.up[a].closed);
	n = open_up_for(ROUTER_TARGET_APP);
	ck_assert_uint_ne(n, 0);
	up_expect(n, REQ_A);
	up_send(n, RESP("p"));
	client_expect(RESP("p"));
	ck_assert_uint_eq(router_stats(R)->fallbacks, 1);
	/* later requests for that session on this connection go to the app directly */
	client_send(REQ_A);
	up_expect(n, REQ_A);
	ck_assert_uint_eq(open_up_for(SID_A), 0);
	/* the session that closes before answering counts the same */
	up_send(n, RESP("p"));
	client_send(REQ_B);
	up_expect(open_up_for(SID_B), REQ_B);
	router_upstream_eof(R, open_up_for(SID_B));
	/* the fallback takes a fresh app connection: an idle one might be stale */
	ck_assert_uint_ne(newest_up_for(ROUTER_TARGET_APP), n);
	n = newest_up_for(ROUTER_TARGET_APP);
	up_expect(n, REQ_B);
	up_send(n, RESP("q"));
	client_expect(RESP("p") RESP("q"));
	ck_assert(!F.client_closed);
}
END_TEST

START_TEST(session_connect_fails)
{
	F.fail_open = SID_A;
	client_send(REQ_A);
	up_expect(open_up_for(ROUTER_TARGET_APP), REQ_A);
}
END_TEST

START_TEST(session_gone_mid_response)
{
	uint32_t a;

	client_send(REQ_A);
	a = open_up_for(SID_A);
	up_send(a, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
	router_upstream_error(R, a, -ECONNRESET);
	ck_assert(F.client_closed && F.client_reset);

	/* gone after a partial head that never reached the client: 502 */
	new_router(NULL);
	client_send(REQ_A);
	a = open_up_for(SID_A);
	up_send(a, "HTTP/1.1 200 OK\r\nCont");
	router_upstream_eof(R, a);
	ck_assert(F.client_closed && !F.client_reset);
	ck_assert_ptr_nonnull(strstr(F.client, "HTTP/1.1 502 Bad Gateway\r\n"));
	ck_assert_ptr_nonnull(strstr(F.client, "Connection: close\r\n"));
}
END_TEST

START_TEST(stale_keepalive_retry)
{
	uint32_t a, a2;

	client_send(REQ_A);
	a = open_up_for(SID_A);
	up_send(a, RESP("1"));
	client_send(REQ_A);
	router_upstream_error(R, a, -ECONNRESET);
	a2 = open_up_for(SID_A);
	ck_assert_uint_ne(a2, 0);
	ck_assert_uint_ne(a2, a);
	up_expect(a2, REQ_A);
	ck_assert_uint_eq(router_stats(R)->retries, 1);
	ck_assert_uint_eq(open_up_for(ROUTER_TARGET_APP), 0);
}
END_TEST

START_TEST(kube_probe_never_stolen)
{
	static const char probe[] = "GET /healthz HTTP/1.1\r\nUser-Agent: kube-probe/1.30\r\n"
				    "X-Dev: team-a\r\n\r\n";

	client_send(probe);
	ck_assert_uint_eq(open_up_for(SID_A), 0);
	up_expect(open_up_for(ROUTER_TARGET_APP), probe);
}
END_TEST

static void expect_error(const char *req, const char *status)
{
	new_router(NULL);
	client_send(req);
	ck_assert_msg(strncmp(F.client, status, strlen(status)) == 0, "got '%.*s'",
		      (int)F.client_len, F.client);
	ck_assert_ptr_nonnull(strstr(F.client, "Connection: close\r\n"));
	ck_assert(F.client_closed && !F.client_reset);
	ck_assert_uint_eq(F.opens, 0);
}

START_TEST(bad_requests)
{
	static char big[70000];
	size_t n;

	expect_error("POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
		     "HTTP/1.1 400 Bad Request\r\n");
	ck_assert_ptr_nonnull(strstr(F.client, "both Content-Length and Transfer-Encoding"));
	expect_error("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", "HTTP/1.1 400 ");
	expect_error("GET / HTTP/1.2\r\n\r\n", "HTTP/1.1 505 ");
	n = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nX: ");
	memset(big + n, 'a', 66000);
	big[n + 66000] = '\0';
	expect_error(big, "HTTP/1.1 431 Request Header Fields Too Large\r\n");
	ck_assert_uint_eq(router_stats(R)->errors, 1);

	/* a broken chunk in a body being forwarded: the upstream is reset, the client told */
	new_router(NULL);
	client_send("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcdeXX");
	ck_assert(F.up[1].closed && F.up[1].reset);
	ck_assert_ptr_nonnull(strstr(F.client, "400 Bad Request"));
	ck_assert(F.client_closed);
}
END_TEST

START_TEST(bad_response)
{
	uint32_t n;

	client_send(REQ_N);
	n = open_up_for(ROUTER_TARGET_APP);
	up_send(n, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
	ck_assert(F.up[n].closed);
	ck_assert_ptr_nonnull(strstr(F.client, "502 Bad Gateway"));
	ck_assert_ptr_nonnull(strstr(F.client, "conflicting Content-Length"));
	ck_assert(F.client_closed);

	/* an idle upstream that talks out of turn is dropped, the client keeps going */
	new_router(NULL);
	client_send(REQ_N);
	n = open_up_for(ROUTER_TARGET_APP);
	up_send(n, RESP("1"));
	up_send(n, "garbage");
	ck_assert(F.up[n].closed);
	ck_assert(!F.client_closed);
	client_send(REQ_N);
	up_expect(open_up_for(ROUTER_TARGET_APP), REQ_N);
}
END_TEST

START_TEST(large_body_backpressure)
{
	static char chunk[4096];
	const size_t total = 4u << 20;
	struct router_limits lim = {0};
	size_t sent = 0, n;
	uint32_t a;
	char head[128];

	lim.client_buf = 16384;
	lim.replay_buf = 8192;
	new_router(&lim);
	memset(chunk, 'z', sizeof(chunk));
	snprintf(head, sizeof(head),
		 "POST /big HTTP/1.1\r\nX-Dev: team-a\r\nContent-Length: %zu\r\n\r\n", total);
	client_send(head);
	a = open_up_for(SID_A);
	/* the upstream is slow: the router holds at most client_buf, then says stop */
	router_set_upstream_blocked(R, a, true);
	while (router_client_room(R) > 0) {
		n = router_client_data(R, chunk, sizeof(chunk));
		ck_assert_uint_gt(n, 0);
		sent += n;
	}
	ck_assert_uint_eq(sent, lim.client_buf);
	ck_assert_uint_eq(router_client_data(R, chunk, sizeof(chunk)), 0);
	router_set_upstream_blocked(R, a, false);
	ck_assert_uint_eq(router_client_room(R), lim.client_buf);
	while (sent < total) {
		size_t want = total - sent < sizeof(chunk) ? total - sent : sizeof(chunk);

		n = router_client_data(R, chunk, want);
		ck_assert_uint_eq(n, want);
		sent += n;
	}
	ck_assert_uint_eq(F.up[a].total, strlen(head) + total);
	/* big response, client slow */
	router_set_client_blocked(R, true);
	snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", total);
	ck_assert_uint_eq(router_upstream_data(R, a, head, strlen(head)), strlen(head));
	ck_assert_uint_eq(F.client_total, 0);
	sent = 0;
	while (router_upstream_room(R, a) > 0)
		sent += router_upstream_data(R, a, chunk, sizeof(chunk));
	ck_assert_uint_eq(router_upstream_data(R, a, chunk, sizeof(chunk)), 0);
	router_set_client_blocked(R, false);
	ck_assert_uint_eq(F.client_total, strlen(head) + sent);
	while (sent < total) {
		size_t want = total - sent < sizeof(chunk) ? total - sent : sizeof(chunk);

		ck_assert_uint_eq(router_upstream_data(R, a, chunk, want), want);
		sent += want;
	}
	ck_assert_uint_eq(F.client_total, strlen(head) + total);
	/* and the connection is ready for the next request */
	F.up[a].len = 0;
	client_send(REQ_A);
	up_expect(a, REQ_A);
}
END_TEST

START_TEST(large_body_session_gone)
{
	static char chunk[4096];
	struct router_limits lim = {0};
	char head[128];
	uint32_t a;
	int i;

	/* too much was sent to replay it elsewhere: the client gets a 502 */
	lim.replay_buf = 8192;
	new_router(&lim);
	memset(chunk, 'z', sizeof(chunk));
	snprintf(head, sizeof(head),
		 "POST /big HTTP/1.1\r\nX-Dev: team-a\r\nContent-Length: %zu\r\n\r\n",
		 sizeof(chunk) * 4);
	client_send(head);
	a = open_up_for(SID_A);
	for (i = 0; i < 4; i++)
		ck_assert_uint_eq(router_client_data(R, chunk, sizeof(chunk)), sizeof(chunk));
	router_upstream_error(R, a, -ECONNRESET);
	ck_assert_ptr_nonnull(strstr(F.client, "502 Bad Gateway"));
	ck_assert_uint_eq(open_up_for(ROUTER_TARGET_APP), 0);
	ck_assert(F.client_closed);
}
END_TEST

START_TEST(client_gone)
{
	uint32_t a;

	/* a client that leaves in the middle of its request body */
	client_send("POST / HTTP/1.1\r\nX-Dev: team-a\r\nContent-Length: 10\r\n\r\nabc");
	a = open_up_for(SID_A);
	router_client_eof(R);
	ck_assert(F.client_closed);
	ck_assert(F.up[a].closed);
	/* idle connection closed by the client */
	new_router(NULL);
	router_client_eof(R);
	ck_assert(F.client_closed && F.opens == 0);
}
END_TEST

START_TEST(lru_eviction)
{
	struct router_limits lim = {0};
	uint32_t a;

	lim.max_upstreams = 2;
	new_router(&lim);
	client_send(REQ_A);
	a = open_up_for(SID_A);
	up_send(a, RESP("a"));
	client_send(REQ_B);
	up_send(open_up_for(SID_B), RESP("b"));
	/* a third target evicts the least recently used idle connection (team-a's) */
	client_send(REQ_N);
	ck_assert(F.up[a].closed && !F.up[a].reset);
	up_send(open_up_for(ROUTER_TARGET_APP), RESP("n"));
	client_send(REQ_A);
	ck_assert_uint_ne(open_up_for(SID_A), 0);
	ck_assert_uint_ne(open_up_for(SID_A), a);
	ck_assert_uint_eq(F.opens, 4);
}
END_TEST

START_TEST(held_requests_wrap)
{
	struct router_limits lim = {0};
	uint32_t n;
	int i;

	lim.client_buf = 128;
	new_router(&lim);
	client_send(REQ_N REQ_N);
	n = open_up_for(ROUTER_TARGET_APP);
	client_send(REQ_N REQ_N REQ_N);
	ck_assert_uint_lt(router_client_room(R), strlen(REQ_N));
	up_send(n, RESP("1"));
	/* the buffer moves its bytes to make room behind the consumed request */
	client_send(REQ_N);
	for (i = 2; i <= 6; i++)
		up_send(n, RESP("x"));
	ck_assert_uint_eq(F.up[n].total, 6 * strlen(REQ_N));
	ck_assert_uint_eq(F.client_total, 6 * strlen(RESP("x")));
}
END_TEST

START_TEST(early_response_keepalive)
{
	uint32_t n;

	client_send("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
	n = open_up_for(ROUTER_TARGET_APP);
	up_send(n, RESP("e"));
	client_expect(RESP("e"));
	client_send("defghij" REQ_N);
	up_expect(n, "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabcdefghij" REQ_N);
	up_send(n, RESP("n"));
	client_expect(RESP("n"));
}
END_TEST

START_TEST(eof_behind_buffered_response)
{
	uint32_t n;

	client_send(REQ_N);
	n = open_up_for(ROUTER_TARGET_APP);
	router_set_client_blocked(R, true);
	up_send(n, "HTTP/1.1 200 OK\r\n\r\nuntil close");
	router_upstream_eof(R, n);
	ck_assert_uint_eq(F.client_total, 0);
	ck_assert(!F.client_closed);
	router_set_client_blocked(R, false);
	client_expect("HTTP/1.1 200 OK\r\n\r\nuntil close");
	ck_assert(F.client_closed && !F.client_reset);
}
END_TEST

START_TEST(tunnel_backpressure)
{
	uint32_t n;

	client_send("\x16\x03\x01");
	n = open_up_for(ROUTER_TARGET_APP);
	up_expect(n, "\x16\x03\x01");
	router_set_upstream_blocked(R, n, true);
	client_send("held");
	router_client_eof(R);
	ck_assert_uint_eq(F.up[n].len, 0);
	ck_assert(!F.up[n].shut);
	router_set_upstream_blocked(R, n, false);
	up_expect(n, "held");
	ck_assert(F.up[n].shut);
	router_upstream_eof(R, n);
	ck_assert(F.client_shut && F.client_closed && !F.client_reset);
}
END_TEST

START_TEST(idle_upstream_closes)
{
	uint32_t n;

	client_send(REQ_N);
	n = open_up_for(ROUTER_TARGET_APP);
	up_send(n, RESP("1"));
	router_upstream_eof(R, n);
	ck_assert(F.up[n].closed && !F.client_closed);
	client_send(REQ_N);
	ck_assert_uint_ne(open_up_for(ROUTER_TARGET_APP), n);
	up_expect(open_up_for(ROUTER_TARGET_APP), REQ_N);
}
END_TEST

START_TEST(client_write_fails)
{
	uint32_t n;

	client_send(REQ_N);
	n = open_up_for(ROUTER_TARGET_APP);
	F.fail_client_write = true;
	ck_assert_uint_eq(router_upstream_data(R, n, RESP("1"), strlen(RESP("1"))),
			  strlen(RESP("1")));
	ck_assert(F.client_closed && F.client_reset);
	ck_assert(F.up[n].closed);
	ck_assert(router_done(R));
	ck_assert_uint_eq(router_client_room(R), 0);
}
END_TEST

static Suite *router_suite(void)
{
	Suite *s = suite_create("router");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, route_table_order);
	tcase_add_test(tc, required_header_per_request);
	tcase_add_test(tc, single_request_to_app);
	tcase_add_test(tc, keepalive_alternating);
	tcase_add_test(tc, pipelining_in_order);
	tcase_add_test(tc, pipelining_one_byte);
	tcase_add_test(tc, bodies_both_directions);
	tcase_add_test(tc, expect_continue);
	tcase_add_test(tc, head_and_no_body_statuses);
	tcase_add_test(tc, connection_close);
	tcase_add_test(tc, upgrade_to_session);
	tcase_add_test(tc, upgrade_declined);
	tcase_add_test(tc, non_http_passthrough);
	tcase_add_test(tc, session_gone_before_response);
	tcase_add_test(tc, session_connect_fails);
	tcase_add_test(tc, session_gone_mid_response);
	tcase_add_test(tc, stale_keepalive_retry);
	tcase_add_test(tc, kube_probe_never_stolen);
	tcase_add_test(tc, bad_requests);
	tcase_add_test(tc, bad_response);
	tcase_add_test(tc, large_body_backpressure);
	tcase_add_test(tc, large_body_session_gone);
	tcase_add_test(tc, client_gone);
	tcase_add_test(tc, lru_eviction);
	tcase_add_test(tc, held_requests_wrap);
	tcase_add_test(tc, early_response_keepalive);
	tcase_add_test(tc, eof_behind_buffered_response);
	tcase_add_test(tc, tunnel_backpressure);
	tcase_add_test(tc, idle_upstream_closes);
	tcase_add_test(tc, client_write_fails);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(router_suite)
