/* Unit tests for per-stream HTTP/2 routing: the router with real nghttp2 peers, in memory. */
#include "router.h"
#include "testutil.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <string.h>

#define MAX_UP	  16
#define MAX_REQ	  256
#define SID_A	  10u
#define SID_B	  20u
#define BIG_BYTES (3u * 1024 * 1024)

struct bbuf {
	uint8_t *p;
	size_t len;
};

/* One upstream: an nghttp2 server answering as "app", "dev-a" or "dev-b". */
struct fake_up {
	nghttp2_session *s;
	uint32_t target;
	struct bbuf in;
	bool closed;
	unsigned resets; /* RST_STREAM received */
	size_t body[MAX_REQ * 2];
	size_t want[MAX_REQ * 2]; /* response body size asked for (x-size) */
	bool hang[MAX_REQ * 2];	  /* x-hang: never answer */
};

/* What the test client saw of one request. */
struct result {
	char target[16];
	size_t body;
	char grpc_status[8];
	uint32_t close_code;
	bool closed;
};

static struct {
	struct router *r;
	struct route_table *table;
	nghttp2_session *client;
	struct bbuf cin; /* router -> client */
	bool client_closed;
	struct fake_up up[MAX_UP];
	uint32_t fail_open;
	unsigned opens;
	struct result res[4096];
} F;

static void bb_add(struct bbuf *b, const void *d, size_t n)
{
	b->p = realloc(b->p, b->len + n);
	ck_assert_ptr_nonnull(b->p);
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

/* ---- router callbacks ----------------------------------------------------- */

static int cb_client_write(void *ctx, const void *d, size_t n)
{
	(void)ctx;
	bb_add(&F.cin, d, n);
	return 0;
}

static void cb_client_shutdown(void *ctx)
{
	(void)ctx;
}

static void cb_client_close(void *ctx, bool reset)
{
	(void)ctx;
	(void)reset;
	F.client_closed = true;
}

static nghttp2_session_callbacks *up_cbs(void);

static int cb_up_open(void *ctx, uint32_t up, uint32_t target)
{
	(void)ctx;
	ck_assert_uint_lt(up, MAX_UP);
	if (target == F.fail_open)
		return -ECONNREFUSED;
	F.opens++;
	F.up[up].target = target;
	ck_assert_int_eq(nghttp2_session_server_new(&F.up[up].s, up_cbs(), &F.up[up]), 0);
	nghttp2_submit_settings(F.up[up].s, NGHTTP2_FLAG_NONE, NULL, 0);
	return 0;
}

static int cb_up_write(void *ctx, uint32_t up, const void *d, size_t n)
{
	(void)ctx;
	bb_add(&F.up[up].in, d, n);
	return 0;
}

static void cb_up_shutdown(void *ctx, uint32_t up)
{
	(void)ctx;
	(void)up;
}

static void cb_up_close(void *ctx, uint32_t up, bool reset)
{
	(void)ctx;
	(void)reset;
	F.up[up].closed = true;
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

/* ---- the fake upstream servers -------------------------------------------- */

static const char *up_name(const struct fake_up *u)
{
	return u->target == SID_A ? "dev-a" : u->target == SID_B ? "dev-b" : "app";
}

static ssize_t zero_read(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len, uint32_t *flags,
			 nghttp2_data_source *src, void *ud)
{
	size_t *left = src->ptr;
	size_t n = *left < len ? *left : len;
	static const nghttp2_nv trl[] = {{(uint8_t *)"grpc-status", (uint8_t *)"0", 11, 1, 0}};

	(void)ud;
	memset(buf, 'z', n);
	*left -= n;
	if (!*left) {
		*flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
		nghttp2_submit_trailer(s, sid, trl, 1);
	}
	return (ssize_t)n;
}

static int up_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
		     const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
	struct fake_up *u = ud;
	int32_t id = f->hd.stream_id;

	(void)s;
	(void)flags;
	if (id >= MAX_REQ * 2)
		return 0;
	if (nlen == 6 && !memcmp(name, "x-size", 6))
		u->want[id] = strtoul((const char *)value, NULL, 10);
	if (nlen == 6 && !memcmp(name, "x-hang", 6))
		u->hang[id] = true;
	(void)vlen;
	return 0;
}

static int up_data(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *d, size_t len,
		   void *ud)
{
	struct fake_up *u = ud;

	(void)s;
	(void)flags;
	(void)d;
	if (sid < MAX_REQ * 2)
		u->body[sid] += len;
	return 0;
}

static int up_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct fake_up *u = ud;
	int32_t id = f->hd.stream_id;
	char clen[24];
	nghttp2_data_provider prd;
	nghttp2_nv nv[] = {
	    {(uint8_t *)":status", (uint8_t *)"200", 7, 3, 0},
	    {(uint8_t *)"x-target", (uint8_t *)up_name(u), 8, strlen(up_name(u)), 0},
	    {(uint8_t *)"x-got", (uint8_t *)clen, 5, 0, 0},
	};

	if (f->hd.type == NGHTTP2_RST_STREAM)
		u->resets++;
	if (!(f->hd.flags & NGHTTP2_FLAG_END_STREAM) || id >= MAX_REQ * 2 ||
	    (u->hang[id] && u->target))
		return 0;
	if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
		return 0;
	nv[2].valuelen = (size_t)snprintf(clen, sizeof(clen), "%zu", u->body[id]);
	prd.source.ptr = &u->want[id];
	prd.read_callback = zero_read;
	if (!u->want[id])
		u->want[id] = 1;
	nghttp2_submit_response(s, id, nv, 3, &prd);
	return 0;
}

static nghttp2_session_callbacks *up_cbs(void)
{
	static nghttp2_session_callbacks *cb;

	if (!cb) {
		nghttp2_session_callbacks_new(&cb);
		nghttp2_session_callbacks_set_on_header_callback(cb, up_header);
		nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, up_data);
		nghttp2_session_callbacks_set_on_frame_recv_callback(cb, up_frame);
	}
	return cb;
}

/* ---- the test client --------------------------------------------------------- */

static int cl_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
		     const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
	struct result *r = &F.res[f->hd.stream_id];

	(void)s;
	(void)flags;
	(void)ud;
	if (nlen == 8 && !memcmp(name, "x-target", 8) && vlen < sizeof(r->target))
		memcpy(r->target, value, vlen);
	if (nlen == 11 && !memcmp(name, "grpc-status", 11) && vlen < sizeof(r->grpc_status))
		memcpy(r->grpc_status, value, vlen);
	return 0;
}

static int cl_data(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *d, size_t len,
		   void *ud)
{
	(void)s;
	(void)flags;
	(void)d;
	(void)ud;
	F.res[sid].body += len;
	return 0;
}

static int cl_close(nghttp2_session *s, int32_t sid, uint32_t code, void *ud)
{
	(void)s;
	(void)ud;
	F.res[sid].closed = true;
	F.res[sid].close_code = code;
	return 0;
}

static size_t upload_left[MAX_REQ * 2 + 2];

static ssize_t upload_read(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len,
			   uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	size_t *left = src->ptr;
	size_t n = *left < len ? *left : len;

	(void)s;
	(void)sid;
	(void)ud;
	memset(buf, 'u', n);
	*left -= n;
	if (!*left)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/* Sends a request; dev "" means no x-dev field. Returns the stream id. */
static int32_t request(const char *path, const char *dev, const char *ua, size_t upload,
		       size_t want)
{
	char sz[24];
	nghttp2_nv nv[8] = {
	    {(uint8_t *)":method", (uint8_t *)"POST", 7, 4, 0},
	    {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0},
	    {(uint8_t *)":authority", (uint8_t *)"svc", 10, 3, 0},
	    {(uint8_t *)":path", (uint8_t *)path, 5, strlen(path), 0},
	};
	size_t n = 4;
	int32_t id;
	static size_t slot;
	nghttp2_data_provider prd = {.read_callback = upload_read};

	if (*dev)
		nv[n++] = (nghttp2_nv){(uint8_t *)"x-dev", (uint8_t *)dev, 5, strlen(dev), 0};
	if (ua)
		nv[n++] = (nghttp2_nv){(uint8_t *)"user-agent", (uint8_t *)ua, 10, strlen(ua), 0};
	if (want) {
		nv[n++] = (nghttp2_nv){(uint8_t *)"x-size", (uint8_t *)sz, 6,
				       (size_t)snprintf(sz, sizeof(sz), "%zu", want), 0};
	}
	slot = (slot + 1) % (MAX_REQ * 2 + 2);
	upload_left[slot] = upload;
	prd.source.ptr = &upload_left[slot];
	id = nghttp2_submit_request(F.client, NULL, nv, n, upload ? &prd : NULL, NULL);
	ck_assert_int_gt(id, 0);
	return id;
}

/* Moves bytes between the client, the router and the upstreams until all is quiet. */
static void shuttle(void)
{
	bool moved = true;

	for (int rounds = 0; moved && rounds < 100000; rounds++) {
		const uint8_t *d;
		ssize_t n;
		moved = false;
		while (!F.client_closed && (n = nghttp2_session_mem_send(F.client, &d)) > 0) {
			ck_assert_uint_eq(router_client_data(F.r, d, (size_t)n), (size_t)n);
			moved = true;
		}
		if (F.cin.len) {
			ck_assert_int_eq(nghttp2_session_mem_recv(F.client, F.cin.p, F.cin.len),
					 (ssize_t)F.cin.len);
			F.cin.len = 0;
			moved = true;
		}
		for (uint32_t i = 1; i < MAX_UP; i++) {
			struct fake_up *u = &F.up[i];
			if (!u->s || u->closed)
				continue;
			if (u->in.len) {
				nghttp2_session_mem_recv(u->s, u->in.p, u->in.len);
				u->in.len = 0;
				moved = true;
			}
			while (!u->closed && (n = nghttp2_session_mem_send(u->s, &d)) > 0) {
				router_upstream_data(F.r, i, d, (size_t)n);
				moved = true;
			}
		}
	}
}

static void setup(void)
{
	nghttp2_session_callbacks *cb;

	memset(&F, 0, sizeof(F));
	F.fail_open = 999;
	F.table = route_table_new();
	route_table_add(F.table, SID_A, httpfilter_new("^X-Dev: a$", NULL, NULL, 0));
	route_table_add(F.table, SID_B, httpfilter_new(NULL, "^/b/", NULL, 0));
	F.r = router_new(&ops, NULL, F.table, NULL);
	nghttp2_session_callbacks_new(&cb);
	nghttp2_session_callbacks_set_on_header_callback(cb, cl_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, cl_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, cl_close);
	nghttp2_session_client_new(&F.client, cb, NULL);
	nghttp2_session_callbacks_del(cb);
	nghttp2_submit_settings(F.client, NGHTTP2_FLAG_NONE, NULL, 0);
}

static void teardown(void)
{
	router_free(F.r);
	route_table_free(F.table);
	nghttp2_session_del(F.client);
	for (int i = 0; i < MAX_UP; i++) {
		nghttp2_session_del(F.up[i].s);
		free(F.up[i].in.p);
	}
	free(F.cin.p);
}

static void expect(int32_t id, const char *target)
{
	ck_assert_msg(F.res[id].closed, "stream %d not closed", id);
	ck_assert_uint_eq(F.res[id].close_code, 0);
	ck_assert_str_eq(F.res[id].target, target);
	ck_assert_str_eq(F.res[id].grpc_status, "0");
}

START_TEST(streams_routed_concurrently)
{
	int32_t ids[MAX_REQ];
	const char *want[MAX_REQ];

	/* 90 concurrent streams: header filter, path filter, and unmarked */
	for (int i = 0; i < 90; i++) {
		int k = i % 3;
		ids[i] = request(k == 1 ? "/b/x" : "/a", k == 0 ? "a" : "", NULL, 100, 10);
		want[i] = k == 0 ? "dev-a" : k == 1 ? "dev-b" : "app";
	}
	shuttle();
	for (int i = 0; i < 90; i++) {
		expect(ids[i], want[i]);
		ck_assert_uint_eq(F.res[ids[i]].body, 10);
	}
	/* one HTTP/2 connection per target, carried on one upstream each */
	ck_assert_ptr_nonnull(F.up[1].s);
	ck_assert_ptr_nonnull(F.up[3].s);
	ck_assert_ptr_null(F.up[4].s);
	ck_assert(!F.client_closed);
	ck_assert_uint_eq(router_stats(F.r)->requests, 90);
	ck_assert_uint_eq(router_stats(F.r)->to_sessions, 60);
}
END_TEST

START_TEST(large_messages_and_probes)
{
	int32_t big = request("/a", "a", NULL, BIG_BYTES, BIG_BYTES);
	int32_t probe = request("/a", "a", "kube-probe/1.30", 0, 0);

	shuttle();
	/* the agent's sniff timer fires while streams run: nothing changes */
	router_timeout(F.r);
	ck_assert_uint_eq(F.opens, 2);
	expect(big, "dev-a");
	ck_assert_uint_eq(F.res[big].body, BIG_BYTES);
	ck_assert_uint_eq(F.up[1].body[1], BIG_BYTES);
	expect(probe, "app");
}
END_TEST

START_TEST(developer_gone_falls_back)
{
	int32_t id;

	/* the session cannot be opened: the stream goes to the pod */
	F.fail_open = SID_A;
	id = request("/a", "a", NULL, 0, 0);
	shuttle();
	expect(id, "app");
	ck_assert_uint_eq(router_stats(F.r)->fallbacks, 1);
	/* not ready: no streams at all */
	route_table_set_ready(F.table, SID_B, false);
	id = request("/b/1", "", NULL, 0, 0);
	shuttle();
	expect(id, "app");
}
END_TEST

/* A request that developers never answer (x-hang), sent to dev-a. */
static int32_t hang_request(void)
{
	static const nghttp2_nv nv[] = {
	    {(uint8_t *)":method", (uint8_t *)"GET", 7, 3, 0},
	    {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0},
	    {(uint8_t *)":authority", (uint8_t *)"svc", 10, 3, 0},
	    {(uint8_t *)":path", (uint8_t *)"/a", 5, 2, 0},
	    {(uint8_t *)"x-hang", (uint8_t *)"1", 6, 1, 0},
	    {(uint8_t *)"x-dev", (uint8_t *)"a", 5, 1, 0},
	};
	int32_t id = nghttp2_submit_request(F.client, NULL, nv, 6, NULL, NULL);

	ck_assert_int_gt(id, 0);
	return id;
}

START_TEST(session_fails_before_answer)
{
	int32_t id = hang_request();

	shuttle();
	ck_assert(!F.res[id].closed);
	ck_assert_uint_eq(F.up[1].target, SID_A);
	/* the developer's process died before answering: the pod answers */
	router_upstream_error(F.r, 1, -ECONNRESET);
	shuttle();
	expect(id, "app");
	ck_assert_uint_eq(router_stats(F.r)->fallbacks, 1);
	ck_assert(!F.client_closed);
}
END_TEST

START_TEST(app_fails_before_answer)
{
	int32_t id = request("/a", "", NULL, 0, 0);
	const uint8_t *d;
	ssize_t n;

	/* the request reaches the router, then the app's connection fails */
	while ((n = nghttp2_session_mem_send(F.client, &d)) > 0)
		router_client_data(F.r, d, (size_t)n);
	ck_assert_uint_eq(F.up[1].target, ROUTER_TARGET_APP);
	router_upstream_error(F.r, 1, -ECONNRESET);
	ck_assert(F.up[1].closed);
	/* resent once, on a fresh connection, never on the failed one */
	shuttle();
	expect(id, "app");
	ck_assert_uint_eq(F.opens, 2);
}
END_TEST

START_TEST(client_reset_reaches_upstream)
{
	int32_t id = hang_request();

	shuttle();
	ck_assert(!F.res[id].closed);
	/* a gRPC deadline or cancellation: RST_STREAM(CANCEL) reaches the developer */
	nghttp2_submit_rst_stream(F.client, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
	shuttle();
	ck_assert_uint_eq(F.up[1].resets, 1);
	/* the upstream's reset of a stream reaches the client with its code */
	id = hang_request();
	shuttle();
	nghttp2_submit_rst_stream(F.up[1].s, NGHTTP2_FLAG_NONE, 3, NGHTTP2_INTERNAL_ERROR);
	shuttle();
	ck_assert(F.res[id].closed);
	ck_assert_uint_eq(F.res[id].close_code, NGHTTP2_INTERNAL_ERROR);
	ck_assert(!F.client_closed);
}
END_TEST

START_TEST(hostile_clients_fail_alone)
{
	static const char bad[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxx";
	struct router *r2;

	/* a connection that is not HTTP/2 after the preface is closed */
	F.client_closed = false;
	r2 = router_new(&ops, NULL, F.table, NULL);
	router_client_data(r2, bad, sizeof(bad) - 1);
	ck_assert(router_done(r2));
	ck_assert(memmem(F.cin.p, F.cin.len, "SETTINGS expected", 17)); /* the GOAWAY says why */
	router_free(r2);
	F.cin.len = 0; /* that was r2's, not for the test client */
	/* oversized header lists reset the stream, the connection goes on */
	{
		static char big[40000];
		nghttp2_nv nv[] = {
		    {(uint8_t *)":method", (uint8_t *)"GET", 7, 3, 0},
		    {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0},
		    {(uint8_t *)":authority", (uint8_t *)"svc", 10, 3, 0},
		    {(uint8_t *)":path", (uint8_t *)"/", 5, 1, 0},
		    {(uint8_t *)"x-big", (uint8_t *)big, 5, sizeof(big), 0},
		};
		int32_t id, ok;
		memset(big, 'b', sizeof(big));
		F.client_closed = false;
		id = nghttp2_submit_request(F.client, NULL, nv, 5, NULL, NULL);
		ok = request("/a", "", NULL, 0, 0);
		shuttle();
		ck_assert(F.res[id].closed);
		ck_assert_uint_ne(F.res[id].close_code, 0);
		expect(ok, "app");
	}
	/* rapid reset: hundreds of streams opened and cancelled end the connection */
	for (int i = 0; i < 400 && !F.client_closed; i++) {
		int32_t id = request("/a", "", NULL, 0, 0);
		const uint8_t *d;
		ssize_t n;
		/* the HEADERS must leave before the reset, or nghttp2 sends neither */
		while ((n = nghttp2_session_mem_send(F.client, &d)) > 0)
			router_client_data(F.r, d, (size_t)n);
		nghttp2_submit_rst_stream(F.client, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
		if (i % 50 == 49)
			shuttle();
	}
	shuttle();
	ck_assert(F.client_closed);
	ck_assert(router_stats(F.r)->h2);
	ck_assert_uint_ge(router_stats(F.r)->h2_rejects, 2); /* the header list, the reset flood */
}
END_TEST

static Suite *h2proxy_suite(void)
{
	Suite *s = suite_create("h2proxy");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, streams_routed_concurrently);
	tcase_add_test(tc, large_messages_and_probes);
	tcase_add_test(tc, developer_gone_falls_back);
	tcase_add_test(tc, session_fails_before_answer);
	tcase_add_test(tc, app_fails_before_answer);
	tcase_add_test(tc, client_reset_reaches_upstream);
	tcase_add_test(tc, hostile_clients_fail_alone);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(h2proxy_suite)
