/* libFuzzer target: arbitrary bytes, split arbitrarily, through the HTTP/1.x parser and the router.
 */
// FUZZ_SOURCES: agent/l7/http1.c agent/l7/httpfilter.c agent/l7/router.c agent/l7/h2proxy.c
// FUZZ_SOURCES: userspace/lib/regexcheck.c
// FUZZ_SOURCES: userspace/lib/bytequeue.c
#include "http1.h"
#include "router.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define check(cond) check_at((cond), #cond, __LINE__)

static void check_at(int cond, const char *what, int line)
{
	if (cond)
		return;
	fprintf(stderr, "fuzz_http1.c:%d: check failed: %s\n", line, what);
	abort();
}

/* What one pass of the parser saw; two splits of the same input must agree. */
struct outcome {
	unsigned heads;
	unsigned ends;
	enum http1_err err;
	size_t body;
	uint32_t raw_hash;
	uint32_t body_hash;
	size_t raw;
};

static uint32_t hash(uint32_t h, const uint8_t *p, size_t n)
{
	while (n--)
		h = (h ^ *p++) * 16777619u;
	return h;
}

/* Splits: seed 0 feeds one byte at a time, others pseudo-random sizes in 1..64, ~0 all at once. */
static size_t next_piece(uint32_t *seed, size_t left)
{
	size_t n;

	if (*seed == 0)
		return 1;
	if (*seed == ~0u)
		return left;
	*seed = *seed * 1103515245u + 12345u;
	n = (*seed >> 16) % 64 + 1;
	return n < left ? n : left;
}

static void parse(enum http1_kind kind, const struct http1_limits *lim, unsigned expect,
		  const uint8_t *d, size_t len, uint32_t seed, struct outcome *o)
{
	struct http1_parser *p = http1_new(kind, lim);
	size_t off = 0;

	memset(o, 0, sizeof(*o));
	o->raw_hash = o->body_hash = 2166136261u;
	if (!p)
		return;
	http1_expect(p, expect);
	while (off < len) {
		size_t piece = next_piece(&seed, len - off);
		struct http1_span sp;
		ssize_t n = http1_feed(p, d + off, piece, &sp);

		if (n < 0) {
			check(n == -EBADMSG);
			o->err = http1_error(p);
			check(o->err != HTTP1_E_NONE && http1_strerror(o->err) != NULL);
			check(http1_err_status(o->err) >= 400);
			check(http1_feed(p, d + off, piece, &sp) == -EBADMSG);
			break;
		}
		check(n > 0 && (size_t)n <= piece);
		/* body bytes are the caller's own, inside what is forwarded */
		check(sp.body_len <= sp.raw_len);
		if (sp.body_len)
			check(sp.body == d + off && sp.raw == d + off);
		if (!sp.head && sp.raw_len)
			check(sp.raw == d + off && sp.raw_len == (size_t)n);
		if (sp.head) {
			const struct http1_head *h = http1_head(p);

			check(h && h->raw == sp.raw && h->raw_len == sp.raw_len);
			check(sp.raw_len <= (lim ? lim->max_head : HTTP1_DEFAULT_MAX_HEAD));
			check(sp.raw_len >= 4 &&
			      memcmp(sp.raw + sp.raw_len - 4, "\r\n\r\n", 4) == 0);
			if (kind == HTTP1_REQUEST) {
				struct http1_str path = http1_request_path(h);

				check(path.len <= h->target.len);
				(void)http1_find_header(h, "host");
			}
			o->heads++;
		}
		o->raw += sp.raw_len;
		o->raw_hash = hash(o->raw_hash, sp.raw, sp.raw_len);
		o->body += sp.body_len;
		o->body_hash = hash(o->body_hash, sp.body, sp.body_len);
		if (sp.end) {
			o->ends++;
			http1_expect(p, expect);
		}
		off += (size_t)n;
	}
	if (!o->err) {
		int f = http1_finish(p);

		check(f == 0 || f == 1 || f == -EBADMSG);
		if (f == 1)
			o->ends++;
		if (f < 0)
			o->err = http1_error(p);
	}
	http1_free(p);
}

static void fuzz_parser(const uint8_t *d, size_t len, uint8_t mode, uint32_t seed)
{
	static const struct http1_limits small = {
	    .max_head = 200, .max_headers = 4, .max_chunk_line = 16};
	enum http1_kind kind = (mode & 1) ? HTTP1_RESPONSE : HTTP1_REQUEST;
	const struct http1_limits *lim = (mode & 2) ? &small : NULL;
	unsigned expect =
	    ((mode & 4) ? HTTP1_F_HEAD_METHOD : 0) | ((mode & 8) ? HTTP1_F_UPGRADE : 0);
	struct outcome whole, split, bytes;

	parse(kind, lim, expect, d, len, ~0u, &whole);
	parse(kind, lim, expect, d, len, seed | 1, &split);
	parse(kind, lim, expect, d, len, 0, &bytes);
	/* the split never changes the meaning */
	check(whole.heads == split.heads && whole.heads == bytes.heads);
	check(whole.ends == split.ends && whole.ends == bytes.ends);
	check(whole.err == split.err && whole.err == bytes.err);
	check(whole.body == split.body && whole.body_hash == split.body_hash);
	check(whole.body == bytes.body && whole.body_hash == bytes.body_hash);
	if (!whole.err) {
		check(whole.raw == split.raw && whole.raw_hash == split.raw_hash);
		check(whole.raw == bytes.raw && whole.raw_hash == bytes.raw_hash);
		(void)http1_sniff(d, len);
	}
}

/* ---- router: the bytes are a script of events -------------------------------------- */

struct sink {
	uint32_t last_up;
	bool closed;
	size_t client_bytes;
};

static int s_client_write(void *ctx, const void *d, size_t n)
{
	struct sink *s = ctx;

	(void)d;
	check(!s->closed);
	s->client_bytes += n;
	return 0;
}

static void s_client_shutdown(void *ctx)
{
	check(!((struct sink *)ctx)->closed);
}

static void s_client_close(void *ctx, bool reset)
{
	struct sink *s = ctx;

	(void)reset;
	check(!s->closed);
	s->closed = true;
}

static int s_up_open(void *ctx, uint32_t up, uint32_t target)
{
	struct sink *s = ctx;

	(void)target;
	check(!s->closed);
	s->last_up = up;
	return up % 7 == 6 ? -ECONNREFUSED : 0;
}

static int s_up_write(void *ctx, uint32_t up, const void *d, size_t n)
{
	(void)ctx;
	(void)d;
	(void)n;
	return up % 11 == 10 ? -EPIPE : 0;
}

static void s_up_shutdown(void *ctx, uint32_t up)
{
	(void)ctx;
	(void)up;
}

static void s_up_close(void *ctx, uint32_t up, bool reset)
{
	(void)ctx;
	(void)up;
	(void)reset;
}

static const struct router_ops sink_ops = {
    .client_write = s_client_write,
    .client_shutdown = s_client_shutdown,
    .client_close = s_client_close,
    .upstream_open = s_up_open,
    .upstream_write = s_up_write,
    .upstream_shutdown = s_up_shutdown,
    .upstream_close = s_up_close,
};

static struct route_table *fuzz_table(void)
{
	struct route_table *t = route_table_new();

	if (!t)
		return NULL;
	route_table_add(t, 1, httpfilter_new("^X-Dev: a$", NULL, NULL, 0));
	route_table_add(t, 2, httpfilter_new(NULL, "^/b", NULL, 0));
	return t;
}

/* Each step: op byte, length byte, then that many data bytes. */
static void fuzz_router(const uint8_t *d, size_t len)
{
	static const struct router_limits lim = {
	    .client_buf = 512, .upstream_buf = 512, .replay_buf = 256, .max_upstreams = 3};
	static struct route_table *table;
	struct sink s = {0};
	struct router *r;
	size_t off = 0;

	if (!table)
		table = fuzz_table();
	if (!table)
		return;
	r = router_new(&sink_ops, &s, table, &lim);
	if (!r)
		return;
	while (off + 2 <= len && !router_done(r)) {
		uint8_t op = d[off];
		size_t n = d[off + 1];
		size_t taken;

		off += 2;
		if (n > len - off)
			n = len - off;
		switch (op % 9) {
		case 0:
		case 1:
			taken = router_client_data(r, d + off, n);
			check(taken <= n);
			break;
		case 2:
			taken = router_upstream_data(r, s.last_up - (op >> 7), d + off, n);
			check(taken <= n);
			break;
		case 3:
			router_client_eof(r);
			break;
		case 4:
			router_upstream_eof(r, s.last_up);
			break;
		case 5:
			router_upstream_error(r, s.last_up, -ECONNRESET);
			break;
		case 6:
			router_timeout(r);
			break;
		case 7:
			router_set_client_blocked(r, op & 0x80);
			break;
		default:
			router_set_upstream_blocked(r, s.last_up, op & 0x80);
			break;
		}
		check(router_client_room(r) <= lim.client_buf);
		check(router_upstream_room(r, s.last_up) <= lim.upstream_buf);
		off += n;
	}
	check(router_done(r) == s.closed);
	router_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t seed;
	uint8_t mode;

	if (size < 3)
		return 0;
	mode = data[0];
	seed = (uint32_t)data[1] << 8 | data[2];
	data += 3;
	size -= 3;
	if (mode & 0x80)
		fuzz_router(data, size);
	else
		fuzz_parser(data, size, mode, seed);
	return 0;
}
