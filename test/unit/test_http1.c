/* Unit tests for the incremental HTTP/1.x parser: framing, smuggling defenses, chunking. */
#include "http1.h"
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* What feeding a whole input produced. */
struct run {
	int heads;
	int ends;
	int err; /* enum http1_err, or 0 */
	size_t consumed;
	char raw[8192]; /* every forwarded byte, in order */
	size_t raw_len;
	char body[4096]; /* payload bytes */
	size_t body_len;
	char methods[256]; /* "GET,POST," */
	int statuses[16];
	unsigned flags[16];
};

/* Feeds in pieces of step bytes (0: all at once); resp_flags go to http1_expect() per response. */
static void run_parser(enum http1_kind kind, const char *in, size_t len, size_t step,
		       unsigned resp_flags, bool finish, struct run *r)
{
	struct http1_parser *p = http1_new(kind, NULL);
	size_t off = 0;

	ck_assert_ptr_nonnull(p);
	memset(r, 0, sizeof(*r));
	if (kind == HTTP1_RESPONSE)
		http1_expect(p, resp_flags);
	while (off < len) {
		size_t n = step && step < len - off ? step : len - off;
		struct http1_span sp;
		ssize_t got = http1_feed(p, in + off, n, &sp);

		if (got < 0) {
			ck_assert_int_eq(got, -EBADMSG);
			r->err = http1_error(p);
			ck_assert_int_ne(r->err, 0);
			break;
		}
		ck_assert_int_gt(got, 0);
		ck_assert_uint_le((size_t)got, n);
		off += (size_t)got;
		ck_assert_uint_le(r->raw_len + sp.raw_len, sizeof(r->raw));
		if (sp.raw_len) /* memcpy from NULL is undefined even for 0 bytes */
			memcpy(r->raw + r->raw_len, sp.raw, sp.raw_len);
		r->raw_len += sp.raw_len;
		ck_assert_uint_le(r->body_len + sp.body_len, sizeof(r->body));
		if (sp.body_len)
			memcpy(r->body + r->body_len, sp.body, sp.body_len);
		r->body_len += sp.body_len;
		if (sp.head) {
			const struct http1_head *h = http1_head(p);

			ck_assert_ptr_nonnull(h);
			if (kind == HTTP1_REQUEST)
				snprintf(r->methods + strlen(r->methods),
					 sizeof(r->methods) - strlen(r->methods), "%.*s,",
					 (int)h->method.len, h->method.p);
			if (r->heads < 16) {
				r->statuses[r->heads] = h->status;
				r->flags[r->heads] = h->flags;
			}
			r->heads++;
		}
		if (sp.end) {
			r->ends++;
			if (kind == HTTP1_RESPONSE)
				http1_expect(p, resp_flags);
		}
	}
	r->consumed = off;
	if (finish && !r->err) {
		int f = http1_finish(p);

		if (f == 1)
			r->ends++;
		else if (f < 0)
			r->err = http1_error(p);
	}
	http1_free(p);
}

/* Runs at every chunk size from 1 to 17 and whole, checking all agree; returns the whole run. */
static void run_all_steps(enum http1_kind kind, const char *in, unsigned resp_flags, bool finish,
			  struct run *whole)
{
	static struct run r;
	size_t len = strlen(in);
	size_t step;

	run_parser(kind, in, len, 0, resp_flags, finish, whole);
	for (step = 1; step <= 17; step++) {
		run_parser(kind, in, len, step, resp_flags, finish, &r);
		ck_assert_int_eq(r.heads, whole->heads);
		ck_assert_int_eq(r.ends, whole->ends);
		ck_assert_int_eq(r.err, whole->err);
		/* framing bytes before an error may or may not have been reported */
		if (r.err)
			continue;
		ck_assert_uint_eq(r.raw_len, whole->raw_len);
		ck_assert_mem_eq(r.raw, whole->raw, r.raw_len);
		ck_assert_uint_eq(r.body_len, whole->body_len);
		ck_assert_mem_eq(r.body, whole->body, r.body_len);
	}
}

static int req_error(const char *in)
{
	static struct run r;

	run_all_steps(HTTP1_REQUEST, in, 0, false, &r);
	return r.err;
}

START_TEST(simple_get)
{
	static const char in[] = "GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Dev:  team-a \r\n\r\n";
	struct http1_parser *p = http1_new(HTTP1_REQUEST, NULL);
	const struct http1_head *h;
	const struct http1_header *f;
	struct http1_span sp;
	struct http1_str path;

	ck_assert_int_eq(http1_feed(p, in, sizeof(in) - 1, &sp), sizeof(in) - 1);
	ck_assert(sp.head && sp.end);
	ck_assert_uint_eq(sp.raw_len, sizeof(in) - 1);
	ck_assert_mem_eq(sp.raw, in, sp.raw_len);
	h = http1_head(p);
	ck_assert_int_eq(h->minor, 1);
	ck_assert_uint_eq(h->nheaders, 2);
	ck_assert(h->flags & HTTP1_F_KEEP_ALIVE);
	ck_assert_int_eq(h->body, HTTP1_BODY_NONE);
	f = http1_find_header(h, "x-dev");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(f->value.len, 6);
	ck_assert_mem_eq(f->value.p, "team-a", 6);
	path = http1_request_path(h);
	ck_assert_uint_eq(path.len, 6);
	ck_assert_mem_eq(path.p, "/a?b=1", 6);
	ck_assert(http1_idle(p));
	http1_free(p);
}
END_TEST

START_TEST(absolute_form_path)
{
	static const char in[] = "GET http://h:80/x/y?z HTTP/1.1\r\n\r\n"
				 "OPTIONS * HTTP/1.1\r\n\r\n"
				 "GET http://h?q HTTP/1.1\r\n\r\n";
	struct http1_parser *p = http1_new(HTTP1_REQUEST, NULL);
	struct http1_span sp;
	struct http1_str s;
	size_t off = 0;
	ssize_t n;

	n = http1_feed(p, in, sizeof(in) - 1, &sp);
	s = http1_request_path(http1_head(p));
	ck_assert_uint_eq(s.len, 6);
	ck_assert_mem_eq(s.p, "/x/y?z", 6);
	off += (size_t)n;
	n = http1_feed(p, in + off, sizeof(in) - 1 - off, &sp);
	s = http1_request_path(http1_head(p));
	ck_assert_uint_eq(s.len, 1);
	off += (size_t)n;
	http1_feed(p, in + off, sizeof(in) - 1 - off, &sp);
	s = http1_request_path(http1_head(p));
	ck_assert_uint_eq(s.len, 2);
	ck_assert_mem_eq(s.p, "?q", 2);
	http1_free(p);
}
END_TEST

START_TEST(pipelined_bodies)
{
	static const char in[] = "POST /1 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
				 "POST /2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
				 "3;ext=1;q=\"a b\"\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n"
				 "Trailer-A: x\r\n\r\n"
				 "\r\nGET /3 HTTP/1.1\r\n\r\n";
	struct run r;

	run_all_steps(HTTP1_REQUEST, in, 0, false, &r);
	ck_assert_int_eq(r.err, 0);
	ck_assert_int_eq(r.heads, 3);
	ck_assert_int_eq(r.ends, 3);
	ck_assert_str_eq(r.methods, "POST,POST,GET,");
	ck_assert_uint_eq(r.body_len, 5 + 3 + 16);
	ck_assert_mem_eq(r.body, "helloabc0123456789abcdef", r.body_len);
	/* everything but the empty line between messages is forwarded verbatim */
	ck_assert_uint_eq(r.raw_len, sizeof(in) - 1 - 2);
}
END_TEST

START_TEST(stops_at_message_end)
{
	static const char in[] = "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nabGET";
	struct http1_parser *p = http1_new(HTTP1_REQUEST, NULL);
	struct http1_span sp;
	ssize_t n;

	n = http1_feed(p, in, sizeof(in) - 1, &sp);
	ck_assert(sp.head && !sp.end);
	n = http1_feed(p, in + n, sizeof(in) - 1 - (size_t)n, &sp);
	ck_assert_int_eq(n, 2);
	ck_assert(sp.end);
	ck_assert(http1_idle(p));
	http1_free(p);
}
END_TEST

START_TEST(smuggling)
{
	ck_assert_int_eq(req_error("POST / HTTP/1.1\r\nContent-Length: 3\r\n"
				   "Transfer-Encoding: chunked\r\n\r\n"),
			 HTTP1_E_CL_AND_TE);
	ck_assert_int_eq(req_error("POST / HTTP/1.1\r\nContent-Length: 3\r\n"
				   "Content-Length: 4\r\n\r\n"),
			 HTTP1_E_CL_CONFLICT);
	ck_assert_int_eq(req_error("POST / HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\n"),
			 HTTP1_E_CL_CONFLICT);
	ck_assert_int_eq(req_error("POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\n"),
			 HTTP1_E_CONTENT_LENGTH);
	ck_assert_int_eq(req_error("POST / HTTP/1.1\r\nContent-Length: 0x3\r\n\r\n"),
			 HTTP1_E_CONTENT_LENGTH);
	ck_assert_int_eq(req_error("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n"),
			 HTTP1_E_CONTENT_LENGTH);
	ck_assert_int_eq(req_error("POST / HTTP/1.1\r\nContent-Length: 3 3\r\n\r\n"),
			 HTTP1_E_CONTENT_LENGTH);
	ck_assert_int_eq(
	    req_error("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n"),
	    HTTP1_E_CONTENT_LENGTH);
	ck_assert_int_eq(req_error("POST / HTTP/1.1\r\nContent-Length : 3\r\n\r\nabc"),
			 HTTP1_E_SPACE_BEFORE_COLON);
	ck_assert_int_eq(req_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
			 HTTP1_E_TE_NOT_CHUNKED);
	ck_assert_int_eq(req_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
				   "Transfer-Encoding: chunked\r\n\r\n"),
			 HTTP1_E_TE_NOT_CHUNKED);
	ck_assert_int_eq(req_error("POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n"),
			 HTTP1_E_TE_NOT_CHUNKED);
	ck_assert_int_eq(req_error("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
			 HTTP1_E_TE_HTTP10);
	ck_assert_int_eq(req_error("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"), HTTP1_E_OBS_FOLD);
	ck_assert_int_eq(req_error("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n"), HTTP1_E_BARE_CR);
	ck_assert_int_eq(req_error("GET / HTTP/1.1\nX: a\r\n\r\n"), HTTP1_E_BARE_LF);
	ck_assert_int_eq(req_error("GET / HTTP/1.1\r\nX\x01Y: a\r\n\r\n"), HTTP1_E_HEADER_NAME);
	ck_assert_int_eq(req_error("GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n"), HTTP1_E_HEADER_VALUE);
	ck_assert_int_eq(req_error("GET / HTTP/1.1\r\n: a\r\n\r\n"), HTTP1_E_HEADER_NAME);
	ck_assert_int_eq(req_error("GET / HTTP/1.1\r\nNoColon\r\n\r\n"), HTTP1_E_HEADER_NAME);
	ck_assert_int_eq(req_error("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), HTTP1_E_HOST);
	ck_assert_int_eq(req_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
				   "5\r\nabcdeXX0\r\n\r\n"),
			 HTTP1_E_CHUNK_DATA_END);
}
END_TEST

START_TEST(request_line)
{
	ck_assert_int_eq(req_error("GET  / HTTP/1.1\r\n\r\n"), HTTP1_E_TARGET);
	ck_assert_int_eq(req_error("G(T / HTTP/1.1\r\n\r\n"), HTTP1_E_METHOD);
	ck_assert_int_eq(req_error("GET /a b HTTP/1.1\r\n\r\n"), HTTP1_E_REQUEST_LINE);
	ck_assert_int_eq(req_error("GET /\x80 HTTP/1.1\r\n\r\n"), HTTP1_E_TARGET);
	ck_assert_int_eq(req_error("GET / HTTP/2.0\r\n\r\n"), HTTP1_E_VERSION);
	ck_assert_int_eq(req_error("GET / HTTP/1.2\r\n\r\n"), HTTP1_E_VERSION);
	ck_assert_int_eq(req_error("GET / http/1.1\r\n\r\n"), HTTP1_E_REQUEST_LINE);
	ck_assert_int_eq(req_error("GET /\r\n\r\n"), HTTP1_E_REQUEST_LINE);
	ck_assert_int_eq(req_error("CONNECT h:443 HTTP/1.1\r\n\r\n"), HTTP1_E_CONNECT);
	ck_assert_int_eq(http1_err_status(HTTP1_E_CONNECT), 501);
	ck_assert_int_eq(http1_err_status(HTTP1_E_VERSION), 505);
	ck_assert_int_eq(http1_err_status(HTTP1_E_HEAD_TOO_LARGE), 431);
	ck_assert_int_eq(http1_err_status(HTTP1_E_CL_AND_TE), 400);
	ck_assert_str_eq(http1_strerror(HTTP1_E_HEAD_TOO_LARGE), "header too large");
	ck_assert_str_eq(http1_strerror(HTTP1_E_CHUNK_SIZE), "invalid chunk size");
	ck_assert_str_eq(http1_strerror((enum http1_err)999), "unknown error");
}
END_TEST

START_TEST(chunked_edges)
{
	struct run r;

	/* upper-case hex, leading zeros, BWS before an extension, empty trailers */
	run_all_steps(HTTP1_REQUEST,
		      "POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"
		      "0000A \t;a=b\r\n0123456789\r\n000\r\n\r\n",
		      0, false, &r);
	ck_assert_int_eq(r.err, 0);
	ck_assert_int_eq(r.ends, 1);
	ck_assert_uint_eq(r.body_len, 10);

	ck_assert_int_eq(req_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
				   "g\r\n"),
			 HTTP1_E_CHUNK_SIZE);
	ck_assert_int_eq(req_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
				   ";x\r\n"),
			 HTTP1_E_CHUNK_SIZE);
	ck_assert_int_eq(req_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
				   "-1\r\n"),
			 HTTP1_E_CHUNK_SIZE);
	ck_assert_int_eq(req_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
				   "5 \r\n"),
			 HTTP1_E_CHUNK_EXT);
	ck_assert_int_eq(req_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
				   "5\n"),
			 HTTP1_E_BARE_LF);
	ck_assert_int_eq(req_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
				   "5;a\x01\r\n"),
			 HTTP1_E_CHUNK_EXT);
	ck_assert_int_eq(req_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
				   "fffffffffffffffff\r\n"),
			 HTTP1_E_CHUNK_OVERFLOW);
	ck_assert_int_eq(req_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
				   "00000000000000000000000000000001\r\nx\r\n0\r\n\r\n"),
			 0);
	ck_assert_int_eq(req_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
				   "0\r\n folded: x\r\n\r\n"),
			 HTTP1_E_OBS_FOLD);
	ck_assert_int_eq(req_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
				   "0\r\nBad Name: x\r\n\r\n"),
			 HTTP1_E_TRAILER);
	ck_assert_int_eq(req_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
				   "0\r\nA: x\r\r\n"),
			 HTTP1_E_BARE_CR);
}
END_TEST

START_TEST(chunk_line_limit)
{
	char in[6000];
	size_t n;

	n = (size_t)snprintf(in, sizeof(in),
			     "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;");
	memset(in + n, 'a', 5000);
	strcpy(in + n + 5000, "\r\n");
	ck_assert_int_eq(req_error(in), HTTP1_E_CHUNK_EXT);
}
END_TEST

START_TEST(head_limits)
{
	static char in[70000];
	size_t n = 0;
	int i;

	n += (size_t)sprintf(in, "GET / HTTP/1.1\r\n");
	for (i = 0; i < 129; i++)
		n += (size_t)sprintf(in + n, "X-%d: v\r\n", i);
	strcpy(in + n, "\r\n");
	ck_assert_int_eq(req_error(in), HTTP1_E_TOO_MANY_HEADERS);

	n = (size_t)sprintf(in, "GET / HTTP/1.1\r\nBig: ");
	memset(in + n, 'a', 66000);
	strcpy(in + n + 66000, "\r\n\r\n");
	ck_assert_int_eq(req_error(in), HTTP1_E_HEAD_TOO_LARGE);
	ck_assert_int_eq(http1_err_status(HTTP1_E_HEAD_TOO_LARGE), 431);
}
END_TEST

START_TEST(connection_flags)
{
	struct run r;

	run_all_steps(
	    HTTP1_REQUEST,
	    "GET / HTTP/1.1\r\nConnection: close\r\n\r\n"
	    "GET / HTTP/1.0\r\n\r\n"
	    "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"
	    "GET /ws HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n"
	    "PUT / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx"
	    "HEAD / HTTP/1.1\r\n\r\n",
	    0, false, &r);
	ck_assert_int_eq(r.heads, 6);
	ck_assert_uint_eq(r.flags[0] & HTTP1_F_KEEP_ALIVE, 0);
	ck_assert_uint_eq(r.flags[1] & HTTP1_F_KEEP_ALIVE, 0);
	ck_assert(r.flags[2] & HTTP1_F_KEEP_ALIVE);
	ck_assert(r.flags[3] & HTTP1_F_UPGRADE);
	ck_assert(r.flags[4] & HTTP1_F_EXPECT_CONTINUE);
	ck_assert(r.flags[5] & HTTP1_F_HEAD_METHOD);
}
END_TEST

START_TEST(responses)
{
	struct run r;

	/* 100 and 103 are interim, then a final response with a body */
	run_all_steps(HTTP1_RESPONSE,
		      "HTTP/1.1 100 Continue\r\n\r\n"
		      "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
		      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
		      0, false, &r);
	ck_assert_int_eq(r.err, 0);
	ck_assert_int_eq(r.heads, 3);
	ck_assert_int_eq(r.ends, 3);
	ck_assert(r.flags[0] & HTTP1_F_INTERIM);
	ck_assert_int_eq(r.statuses[2], 200);
	ck_assert_uint_eq(r.body_len, 3);

	/* HEAD: Content-Length describes the absent body */
	run_all_steps(HTTP1_RESPONSE,
		      "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
		      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		      HTTP1_F_HEAD_METHOD, false, &r);
	ck_assert_int_eq(r.err, 0);
	ck_assert_int_eq(r.ends, 2);

	/* 204 and 304 have no body whatever they say */
	run_all_steps(HTTP1_RESPONSE,
		      "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"
		      "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"
		      "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
		      0, false, &r);
	ck_assert_int_eq(r.err, 0);
	ck_assert_int_eq(r.ends, 3);
	ck_assert_uint_eq(r.body_len, 0);

	/* no length: the body runs until the connection closes */
	run_all_steps(HTTP1_RESPONSE, "HTTP/1.0 200 OK\r\n\r\nuntil close", 0, true, &r);
	ck_assert_int_eq(r.err, 0);
	ck_assert_int_eq(r.ends, 1);
	ck_assert_uint_eq(r.flags[0] & HTTP1_F_KEEP_ALIVE, 0);
	ck_assert_uint_eq(r.body_len, 11);

	/* chunked response with a trailer */
	run_all_steps(HTTP1_RESPONSE,
		      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		      "2\r\nok\r\n0\r\nX-T: 1\r\n\r\n",
		      0, true, &r);
	ck_assert_int_eq(r.err, 0);
	ck_assert_int_eq(r.ends, 1);
	ck_assert_uint_eq(r.body_len, 2);

	/* truncated body */
	run_all_steps(HTTP1_RESPONSE, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", 0, true,
		      &r);
	ck_assert_int_eq(r.err, HTTP1_E_TRUNCATED);

	run_all_steps(HTTP1_RESPONSE, "HTTP/1.1 2000 OK\r\n\r\n", 0, false, &r);
	ck_assert_int_eq(r.err, HTTP1_E_STATUS_LINE);
	run_all_steps(HTTP1_RESPONSE, "\r\nHTTP/1.1 200 OK\r\n\r\n", 0, false, &r);
	ck_assert_int_eq(r.err, HTTP1_E_STATUS_LINE);
	run_all_steps(HTTP1_RESPONSE, "HTTP/1.1 101 Switching Protocols\r\n\r\n", 0, false, &r);
	ck_assert_int_eq(r.err, HTTP1_E_UNEXPECTED_101);
}
END_TEST

START_TEST(switching_protocols)
{
	static const char in[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
				 "Connection: Upgrade\r\n\r\n\x81\x05hello";
	struct run r;

	run_all_steps(HTTP1_RESPONSE, in, HTTP1_F_UPGRADE, true, &r);
	ck_assert_int_eq(r.err, 0);
	ck_assert_int_eq(r.heads, 1);
	ck_assert_int_eq(r.ends, 1);
	ck_assert(r.flags[0] & HTTP1_F_SWITCHED);
	ck_assert_uint_eq(r.raw_len, sizeof(in) - 1);
	ck_assert_uint_eq(r.body_len, 0);
}
END_TEST

START_TEST(finish_states)
{
	struct http1_parser *p = http1_new(HTTP1_REQUEST, NULL);
	struct http1_span sp;

	ck_assert_int_eq(http1_finish(p), 0);
	http1_feed(p, "GET / HT", 8, &sp);
	ck_assert(!http1_idle(p));
	ck_assert_ptr_null(http1_head(p));
	ck_assert_int_eq(http1_finish(p), -EBADMSG);
	ck_assert_int_eq(http1_error(p), HTTP1_E_TRUNCATED);
	ck_assert_int_eq(http1_feed(p, "x", 1, &sp), -EBADMSG);
	http1_free(p);
}
END_TEST

START_TEST(sniff)
{
	ck_assert_int_eq(http1_sniff("", 0), HTTP1_SNIFF_MORE);
	ck_assert_int_eq(http1_sniff("GE", 2), HTTP1_SNIFF_MORE);
	ck_assert_int_eq(http1_sniff("GET /x HTTP/1", 13), HTTP1_SNIFF_MORE);
	ck_assert_int_eq(http1_sniff("GET /x HTTP/1.1\r\n", 17), HTTP1_SNIFF_HTTP);
	ck_assert_int_eq(http1_sniff("\x16\x03\x01\x02", 4), HTTP1_SNIFF_NOT_HTTP);
	ck_assert_int_eq(http1_sniff("PING\r\n", 6), HTTP1_SNIFF_NOT_HTTP);
	ck_assert_int_eq(http1_sniff("SET a b\r\n", 9), HTTP1_SNIFF_NOT_HTTP);
	ck_assert_int_eq(http1_sniff("PRI * HTTP/2.0\r\n", 16), HTTP1_SNIFF_NOT_HTTP);
	ck_assert_int_eq(http1_sniff("*3\r\n$3\r\nSET\r\n", 13), HTTP1_SNIFF_NOT_HTTP);
	ck_assert_int_eq(http1_sniff("AVERYLONGMETHODNAMETHATISNOTHTTPATALLREALLY", 43),
			 HTTP1_SNIFF_NOT_HTTP);
}
END_TEST

static Suite *http1_suite(void)
{
	Suite *s = suite_create("http1");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, simple_get);
	tcase_add_test(tc, absolute_form_path);
	tcase_add_test(tc, pipelined_bodies);
	tcase_add_test(tc, stops_at_message_end);
	tcase_add_test(tc, smuggling);
	tcase_add_test(tc, request_line);
	tcase_add_test(tc, chunked_edges);
	tcase_add_test(tc, chunk_line_limit);
	tcase_add_test(tc, head_limits);
	tcase_add_test(tc, connection_flags);
	tcase_add_test(tc, responses);
	tcase_add_test(tc, switching_protocols);
	tcase_add_test(tc, finish_states);
	tcase_add_test(tc, sniff);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(http1_suite)
