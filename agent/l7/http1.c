/* Incremental HTTP/1.x parser: heads are collected and validated, bodies are delimited in place. */
#include "http1.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum state {
	ST_START, /* between messages; requests skip empty lines here */
	ST_HEAD,
	ST_BODY_LEN,
	ST_BODY_EOF,
	ST_CHUNK_SIZE,
	ST_CHUNK_BWS, /* whitespace after the size: only ';' may follow */
	ST_CHUNK_EXT,
	ST_CHUNK_LF,
	ST_CHUNK_DATA,
	ST_CHUNK_DATA_CR,
	ST_CHUNK_DATA_LF,
	ST_TRAILER_START,
	ST_TRAILER_NAME,
	ST_TRAILER_VALUE,
	ST_TRAILER_LF,
	ST_TRAILER_END_LF,
	ST_OPAQUE,
	ST_ERROR,
};

struct http1_parser {
	enum http1_kind kind;
	struct http1_limits lim;
	enum state state;
	enum http1_err err;
	uint8_t *buf; /* the head being collected */
	size_t buf_len;
	size_t buf_cap;
	size_t line_len; /* bytes of the current head line before its CR */
	bool cr;	 /* the previous head byte was CR */
	bool have_head;
	struct http1_head head;
	struct http1_header *hdrs;
	uint64_t remaining; /* body bytes, or chunk bytes, still to come */
	bool chunk_digits;
	uint32_t chunk_line;
	uint32_t trailer_bytes;
	uint32_t trailer_lines;
	unsigned expect_flags;
};

static const char *const err_text[HTTP1_E__COUNT] = {
    [HTTP1_E_NONE] = "no error",
    [HTTP1_E_HEAD_TOO_LARGE] = "header too large",
    [HTTP1_E_TOO_MANY_HEADERS] = "too many header fields",
    [HTTP1_E_BARE_CR] = "bare CR",
    [HTTP1_E_BARE_LF] = "bare LF (lines must end in CRLF)",
    [HTTP1_E_REQUEST_LINE] = "invalid request line",
    [HTTP1_E_METHOD] = "invalid method",
    [HTTP1_E_TARGET] = "invalid request target",
    [HTTP1_E_VERSION] = "HTTP version not supported",
    [HTTP1_E_STATUS_LINE] = "invalid status line",
    [HTTP1_E_HEADER_NAME] = "invalid header name",
    [HTTP1_E_HEADER_VALUE] = "invalid header value",
    [HTTP1_E_OBS_FOLD] = "obsolete line folding",
    [HTTP1_E_SPACE_BEFORE_COLON] = "whitespace between header name and colon",
    [HTTP1_E_CONTENT_LENGTH] = "invalid Content-Length",
    [HTTP1_E_CL_CONFLICT] = "conflicting Content-Length values",
    [HTTP1_E_CL_AND_TE] = "both Content-Length and Transfer-Encoding",
    [HTTP1_E_TE_NOT_CHUNKED] = "Transfer-Encoding does not end in chunked",
    [HTTP1_E_TE_HTTP10] = "Transfer-Encoding in an HTTP/1.0 message",
    [HTTP1_E_HOST] = "more than one Host header",
    [HTTP1_E_CONNECT] = "CONNECT not supported",
    [HTTP1_E_CHUNK_SIZE] = "invalid chunk size",
    [HTTP1_E_CHUNK_OVERFLOW] = "chunk size too large",
    [HTTP1_E_CHUNK_EXT] = "invalid chunk extension",
    [HTTP1_E_CHUNK_DATA_END] = "missing CRLF after chunk data",
    [HTTP1_E_TRAILER] = "invalid trailer field",
    [HTTP1_E_UNEXPECTED_101] = "101 response to a request without Upgrade",
    [HTTP1_E_TRUNCATED] = "connection closed inside a message",
};

const char *http1_strerror(enum http1_err err)
{
	if ((unsigned)err >= HTTP1_E__COUNT)
		return "unknown error";
	return err_text[err];
}

int http1_err_status(enum http1_err err)
{
	switch (err) {
	case HTTP1_E_HEAD_TOO_LARGE:
	case HTTP1_E_TOO_MANY_HEADERS:
		return 431;
	case HTTP1_E_VERSION:
		return 505;
	case HTTP1_E_CONNECT:
		return 501;
	default:
		return 400;
	}
}

/* RFC 9110 tchar. */
static bool is_tchar(uint8_t c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Field-value and reason-phrase bytes: HTAB, SP, VCHAR, obs-text. */
static bool is_text(uint8_t c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool is_ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static int hex_value(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool str_ieq(struct http1_str s, const char *lit)
{
	size_t n = strlen(lit);

	return s.len == n && strncasecmp(s.p, lit, n) == 0;
}

static struct http1_str trim_ows(const char *p, size_t len)
{
	struct http1_str s;

	while (len > 0 && is_ows((uint8_t)p[0])) {
		p++;
		len--;
	}
	while (len > 0 && is_ows((uint8_t)p[len - 1]))
		len--;
	s.p = p;
	s.len = len;
	return s;
}

/* Calls fn for each non-empty element of a comma-separated list; stops at a non-zero return. */
static int for_each_element(struct http1_str list, int (*fn)(struct http1_str el, void *ctx),
			    void *ctx)
{
	size_t start = 0, i;
	int err;

	for (i = 0; i <= list.len; i++) {
		if (i < list.len && list.p[i] != ',')
			continue;
		struct http1_str el = trim_ows(list.p + start, i - start);
		if (el.len > 0) {
			err = fn(el, ctx);
			if (err)
				return err;
		}
		start = i + 1;
	}
	return 0;
}

struct http1_parser *http1_new(enum http1_kind kind, const struct http1_limits *lim)
{
	struct http1_parser *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->kind = kind;
	if (lim)
		p->lim = *lim;
	if (!p->lim.max_head)
		p->lim.max_head = HTTP1_DEFAULT_MAX_HEAD;
	if (!p->lim.max_headers)
		p->lim.max_headers = HTTP1_DEFAULT_MAX_HEADERS;
	if (!p->lim.max_chunk_line)
		p->lim.max_chunk_line = HTTP1_DEFAULT_MAX_CHUNK_LINE;
	p->hdrs = calloc(p->lim.max_headers, sizeof(*p->hdrs));
	if (!p->hdrs) {
		free(p);
		errno = ENOMEM;
		return NULL;
	}
	p->state = ST_START;
	return p;
}

void http1_free(struct http1_parser *p)
{
	if (!p)
		return;
	free(p->hdrs);
	free(p->buf);
	free(p);
}

static ssize_t fail(struct http1_parser *p, enum http1_err err)
{
	p->state = ST_ERROR;
	p->err = err;
	return -EBADMSG;
}

/* ---- head ------------------------------------------------------------------ */

static enum http1_err parse_version(const char *p, size_t len, int *minor)
{
	if (len != 8 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.')
		return HTTP1_E_REQUEST_LINE;
	if (p[5] < '0' || p[5] > '9' || p[7] < '0' || p[7] > '9')
		return HTTP1_E_REQUEST_LINE;
	if (p[5] != '1' || p[7] > '1')
		return HTTP1_E_VERSION;
	*minor = p[7] - '0';
	return HTTP1_E_NONE;
}

static enum http1_err parse_request_line(struct http1_head *h, const char *l, size_t len)
{
	size_t i = 0, t;

	while (i < len && l[i] != ' ') {
		if (!is_tchar((uint8_t)l[i]))
			return HTTP1_E_METHOD;
		i++;
	}
	if (i == len)
		return HTTP1_E_REQUEST_LINE;
	if (i == 0)
		return HTTP1_E_METHOD;
	h->method.p = l;
	h->method.len = i;
	t = ++i;
	while (i < len && l[i] != ' ') {
		if ((uint8_t)l[i] <= 0x20 || (uint8_t)l[i] >= 0x7f)
			return HTTP1_E_TARGET;
		i++;
	}
	if (i == t)
		return HTTP1_E_TARGET;
	if (i == len)
		return HTTP1_E_REQUEST_LINE;
	h->target.p = l + t;
	h->target.len = i - t;
	i++;
	return parse_version(l + i, len - i, &h->minor);
}

static enum http1_err parse_status_line(struct http1_head *h, const char *l, size_t len)
{
	size_t i;

	if (len < 12 || l[8] != ' ')
		return HTTP1_E_STATUS_LINE;
	if (parse_version(l, 8, &h->minor) != HTTP1_E_NONE)
		return HTTP1_E_STATUS_LINE;
	h->status = 0;
	for (i = 9; i < 12; i++) {
		if (l[i] < '0' || l[i] > '9')
			return HTTP1_E_STATUS_LINE;
		h->status = h->status * 10 + (l[i] - '0');
	}
	if (h->status < 100)
		return HTTP1_E_STATUS_LINE;
	/* A missing reason (no SP) is common enough to accept; it frames nothing. */
	if (len > 12 && l[12] != ' ')
		return HTTP1_E_STATUS_LINE;
	for (i = 13; i < len; i++)
		if (!is_text((uint8_t)l[i]))
			return HTTP1_E_STATUS_LINE;
	h->reason.p = len > 13 ? l + 13 : l + len;
	h->reason.len = len > 13 ? len - 13 : 0;
	return HTTP1_E_NONE;
}

static enum http1_err parse_field(struct http1_header *f, const char *l, size_t len)
{
	size_t i = 0, v;

	if (len > 0 && is_ows((uint8_t)l[0]))
		return HTTP1_E_OBS_FOLD;
	while (i < len && l[i] != ':') {
		if (is_ows((uint8_t)l[i]))
			return HTTP1_E_SPACE_BEFORE_COLON;
		if (!is_tchar((uint8_t)l[i]))
			return HTTP1_E_HEADER_NAME;
		i++;
	}
	if (i == len || i == 0)
		return HTTP1_E_HEADER_NAME;
	for (v = i + 1; v < len; v++)
		if (!is_text((uint8_t)l[v]))
			return HTTP1_E_HEADER_VALUE;
	f->name.p = l;
	f->name.len = i;
	f->value = trim_ows(l + i + 1, len - i - 1);
	return HTTP1_E_NONE;
}

/* What the framing-relevant header fields said. */
struct head_facts {
	bool cl_seen;
	unsigned cl_values;
	uint64_t cl;
	enum http1_err cl_err;
	bool te_seen;
	bool te_chunked_last;
	bool te_bad;
	bool conn_close;
	bool conn_keep_alive;
	bool conn_upgrade;
	bool upgrade;
	bool expect_continue;
	unsigned hosts;
};

static int cl_element(struct http1_str el, void *ctx)
{
	struct head_facts *f = ctx;
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < el.len; i++) {
		if (el.p[i] < '0' || el.p[i] > '9' || v > HTTP1_MAX_BODY_LENGTH / 10) {
			f->cl_err = HTTP1_E_CONTENT_LENGTH;
			return -1;
		}
		v = v * 10 + (uint64_t)(el.p[i] - '0');
	}
	if (v > HTTP1_MAX_BODY_LENGTH) {
		f->cl_err = HTTP1_E_CONTENT_LENGTH;
		return -1;
	}
	if (f->cl_seen && f->cl != v) {
		f->cl_err = HTTP1_E_CL_CONFLICT;
		return -1;
	}
	f->cl_seen = true;
	f->cl_values++;
	f->cl = v;
	return 0;
}

static int te_element(struct http1_str el, void *ctx)
{
	struct head_facts *f = ctx;

	/* chunked may be applied once, as the last coding */
	if (f->te_chunked_last)
		f->te_bad = true;
	f->te_chunked_last = str_ieq(el, "chunked");
	return 0;
}

static int conn_element(struct http1_str el, void *ctx)
{
	struct head_facts *f = ctx;

	if (str_ieq(el, "close"))
		f->conn_close = true;
	else if (str_ieq(el, "keep-alive"))
		f->conn_keep_alive = true;
	else if (str_ieq(el, "upgrade"))
		f->conn_upgrade = true;
	return 0;
}

static enum http1_err collect_facts(const struct http1_head *h, struct head_facts *f)
{
	unsigned i;

	memset(f, 0, sizeof(*f));
	for (i = 0; i < h->nheaders; i++) {
		const struct http1_header *hd = &h->headers[i];

		if (str_ieq(hd->name, "content-length")) {
			unsigned before = f->cl_values;

			if (for_each_element(hd->value, cl_element, f))
				return f->cl_err;
			/* an empty value (or a list of nothing) is not a length */
			if (f->cl_values == before)
				return HTTP1_E_CONTENT_LENGTH;
		} else if (str_ieq(hd->name, "transfer-encoding")) {
			f->te_seen = true;
			for_each_element(hd->value, te_element, f);
		} else if (str_ieq(hd->name, "connection")) {
			for_each_element(hd->value, conn_element, f);
		} else if (str_ieq(hd->name, "upgrade")) {
			f->upgrade = true;
		} else if (str_ieq(hd->name, "expect")) {
			f->expect_continue = str_ieq(hd->value, "100-continue");
		} else if (str_ieq(hd->name, "host")) {
			f->hosts++;
		}
	}
	return HTTP1_E_NONE;
}

static enum http1_err request_framing(struct http1_head *h, const struct head_facts *f)
{
	if (f->hosts > 1)
		return HTTP1_E_HOST;
	if (str_ieq(h->method, "CONNECT"))
		return HTTP1_E_CONNECT;
	if (str_ieq(h->method, "HEAD"))
		h->flags |= HTTP1_F_HEAD_METHOD;
	if (f->upgrade && f->conn_upgrade)
		h->flags |= HTTP1_F_UPGRADE;
	if (f->expect_continue && h->minor >= 1)
		h->flags |= HTTP1_F_EXPECT_CONTINUE;
	h->body = HTTP1_BODY_NONE;
	if (f->te_seen) {
		if (h->minor == 0)
			return HTTP1_E_TE_HTTP10;
		if (f->cl_seen)
			return HTTP1_E_CL_AND_TE;
		if (f->te_bad || !f->te_chunked_last)
			return HTTP1_E_TE_NOT_CHUNKED;
		h->body = HTTP1_BODY_CHUNKED;
	} else if (f->cl_seen && f->cl > 0) {
		h->body = HTTP1_BODY_LENGTH;
		h->content_length = f->cl;
	}
	return HTTP1_E_NONE;
}

static enum http1_err response_framing(struct http1_head *h, const struct head_facts *f,
				       unsigned expect)
{
	h->body = HTTP1_BODY_NONE;
	if (h->status == 101) {
		if (!(expect & HTTP1_F_UPGRADE))
			return HTTP1_E_UNEXPECTED_101;
		h->flags |= HTTP1_F_SWITCHED;
		return HTTP1_E_NONE;
	}
	if (h->status < 200) {
		h->flags |= HTTP1_F_INTERIM;
		return HTTP1_E_NONE;
	}
	if (f->te_seen && f->cl_seen)
		return HTTP1_E_CL_AND_TE;
	if (f->te_seen && h->minor == 0)
		return HTTP1_E_TE_HTTP10;
	if ((expect & HTTP1_F_HEAD_METHOD) || h->status == 204 || h->status == 304)
		return HTTP1_E_NONE;
	if (f->te_seen) {
		h->body = (f->te_bad || !f->te_chunked_last) ? HTTP1_BODY_UNTIL_CLOSE
							     : HTTP1_BODY_CHUNKED;
	} else if (f->cl_seen) {
		h->body = f->cl > 0 ? HTTP1_BODY_LENGTH : HTTP1_BODY_NONE;
		h->content_length = f->cl;
	} else {
		h->body = HTTP1_BODY_UNTIL_CLOSE;
	}
	return HTTP1_E_NONE;
}

/* Splits the collected head into lines and fields and decides the framing. */
static enum http1_err parse_head(struct http1_parser *p)
{
	struct http1_head *h = &p->head;
	const char *s = (const char *)p->buf;
	size_t len = p->buf_len - 2; /* without the CRLF of the empty line */
	size_t pos = 0;
	struct head_facts f;
	enum http1_err err;
	bool first = true;

	memset(h, 0, sizeof(*h));
	h->raw = p->buf;
	h->raw_len = p->buf_len;
	h->headers = p->hdrs;
	while (pos < len) {
		const char *eol = memchr(s + pos, '\r', len - pos);
		size_t n = (size_t)(eol - (s + pos)); /* every line ends in CRLF */

		if (first) {
			err = p->kind == HTTP1_REQUEST ? parse_request_line(h, s + pos, n)
						       : parse_status_line(h, s + pos, n);
			first = false;
		} else if (h->nheaders == p->lim.max_headers) {
			err = HTTP1_E_TOO_MANY_HEADERS;
		} else {
			err = parse_field(&p->hdrs[h->nheaders++], s + pos, n);
		}
		if (err)
			return err;
		pos += n + 2;
	}
	if (first)
		return p->kind == HTTP1_REQUEST ? HTTP1_E_REQUEST_LINE : HTTP1_E_STATUS_LINE;
	err = collect_facts(h, &f);
	if (err)
		return err;
	err = p->kind == HTTP1_REQUEST ? request_framing(h, &f)
				       : response_framing(h, &f, p->expect_flags);
	if (err)
		return err;
	if (h->minor >= 1 ? !f.conn_close : (f.conn_keep_alive && !f.conn_close))
		h->flags |= HTTP1_F_KEEP_ALIVE;
	if (h->body == HTTP1_BODY_UNTIL_CLOSE)
		h->flags &= ~HTTP1_F_KEEP_ALIVE;
	return HTTP1_E_NONE;
}

static int grow_buf(struct http1_parser *p, size_t need)
{
	size_t cap = p->buf_cap ? p->buf_cap : 1024;
	uint8_t *nb;

	if (need <= p->buf_cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (cap > p->lim.max_head)
		cap = p->lim.max_head;
	nb = realloc(p->buf, cap);
	if (!nb)
		return -ENOMEM;
	p->buf = nb;
	p->buf_cap = cap;
	return 0;
}

static void end_message(struct http1_parser *p, struct http1_span *span)
{
	span->end = true;
	if (p->kind == HTTP1_RESPONSE && (p->head.flags & HTTP1_F_SWITCHED)) {
		p->state = ST_OPAQUE;
		return;
	}
	if (p->kind == HTTP1_RESPONSE && !(p->head.flags & HTTP1_F_INTERIM))
		p->expect_flags = 0;
	p->state = ST_START;
}

static void start_body(struct http1_parser *p, struct http1_span *span)
{
	p->remaining = 0;
	p->chunk_digits = false;
	p->chunk_line = 0;
	p->trailer_bytes = 0;
	p->trailer_lines = 0;
	switch (p->head.body) {
	case HTTP1_BODY_NONE:
		end_message(p, span);
		break;
	case HTTP1_BODY_LENGTH:
		p->remaining = p->head.content_length;
		p->state = ST_BODY_LEN;
		break;
	case HTTP1_BODY_CHUNKED:
		p->state = ST_CHUNK_SIZE;
		break;
	case HTTP1_BODY_UNTIL_CLOSE:
		p->state = ST_BODY_EOF;
		break;
	}
}

static ssize_t feed_head(struct http1_parser *p, const uint8_t *d, size_t len,
			 struct http1_span *span)
{
	size_t room = p->lim.max_head - p->buf_len;
	size_t n = len < room ? len : room;
	bool done = false;
	enum http1_err err;
	size_t i;

	for (i = 0; i < n && !done; i++) {
		uint8_t c = d[i];

		if (p->cr) {
			if (c != '\n')
				return fail(p, HTTP1_E_BARE_CR);
			p->cr = false;
			done = p->line_len == 0;
			p->line_len = 0;
		} else if (c == '\r') {
			p->cr = true;
		} else if (c == '\n') {
			return fail(p, HTTP1_E_BARE_LF);
		} else {
			p->line_len++;
		}
	}
	if (!done && len > room)
		return fail(p, HTTP1_E_HEAD_TOO_LARGE);
	if (grow_buf(p, p->buf_len + i))
		return -ENOMEM;
	memcpy(p->buf + p->buf_len, d, i);
	p->buf_len += i;
	if (!done)
		return (ssize_t)i;
	err = parse_head(p);
	if (err)
		return fail(p, err);
	p->have_head = true;
	span->head = true;
	span->raw = p->buf;
	span->raw_len = p->buf_len;
	start_body(p, span);
	return (ssize_t)i;
}

/* ---- chunked framing ----------------------------------------------------- */

/*
 * The byte steps of chunked framing return 0 to go on with the next byte,
 * CHUNK_STOP when the caller must return after this byte (chunk data follows,
 * or the message ended), or fail()'s negative value.
 */
#define CHUNK_STOP 1

/* Counts a framing byte against the chunk-line and trailer limits. */
static ssize_t chunk_limits(struct http1_parser *p)
{
	if (p->state >= ST_CHUNK_SIZE && p->state <= ST_CHUNK_LF &&
	    ++p->chunk_line > p->lim.max_chunk_line)
		return fail(p, p->state == ST_CHUNK_SIZE ? HTTP1_E_CHUNK_SIZE : HTTP1_E_CHUNK_EXT);
	if (p->state >= ST_TRAILER_START && p->state <= ST_TRAILER_END_LF &&
	    ++p->trailer_bytes > p->lim.max_head)
		return fail(p, HTTP1_E_HEAD_TOO_LARGE);
	return 0;
}

/* A byte of the chunk-size line: hex digits, optional whitespace, extensions, CRLF. */
static ssize_t chunk_size_byte(struct http1_parser *p, uint8_t c)
{
	int v = hex_value(c);

	switch (p->state) {
	case ST_CHUNK_SIZE:
		if (v >= 0) {
			if (p->remaining > (HTTP1_MAX_BODY_LENGTH - (uint64_t)v) / 16)
				return fail(p, HTTP1_E_CHUNK_OVERFLOW);
			p->remaining = p->remaining * 16 + (uint64_t)v;
			p->chunk_digits = true;
			return 0;
		}
		if (!p->chunk_digits)
			return fail(p, HTTP1_E_CHUNK_SIZE);
		if (is_ows(c))
			p->state = ST_CHUNK_BWS;
		else if (c == ';')
			p->state = ST_CHUNK_EXT;
		else if (c == '\r')
			p->state = ST_CHUNK_LF;
		else
			return fail(p, c == '\n' ? HTTP1_E_BARE_LF : HTTP1_E_CHUNK_SIZE);
		return 0;
	case ST_CHUNK_BWS:
		if (c == ';')
			p->state = ST_CHUNK_EXT;
		else if (!is_ows(c))
			return fail(p, HTTP1_E_CHUNK_EXT);
		return 0;
	case ST_CHUNK_EXT:
		if (c == '\r')
			p->state = ST_CHUNK_LF;
		else if (c == '\n')
			return fail(p, HTTP1_E_BARE_LF);
		else if (!is_text(c))
			return fail(p, HTTP1_E_CHUNK_EXT);
		return 0;
	default: /* ST_CHUNK_LF */
		if (c != '\n')
			return fail(p, HTTP1_E_BARE_CR);
		p->chunk_line = 0;
		p->chunk_digits = false;
		if (p->remaining == 0) {
			p->state = ST_TRAILER_START;
			return 0;
		}
		p->state = ST_CHUNK_DATA;
		return CHUNK_STOP;
	}
}

/* A byte of the trailer section: name: value lines, then the empty line ending the message. */
static ssize_t trailer_byte(struct http1_parser *p, uint8_t c, struct http1_span *span)
{
	switch (p->state) {
	case ST_TRAILER_START:
		if (c == '\r') {
			p->state = ST_TRAILER_END_LF;
		} else if (is_ows(c)) {
			return fail(p, HTTP1_E_OBS_FOLD);
		} else if (c == '\n') {
			return fail(p, HTTP1_E_BARE_LF);
		} else if (is_tchar(c)) {
			if (++p->trailer_lines > p->lim.max_headers)
				return fail(p, HTTP1_E_TOO_MANY_HEADERS);
			p->state = ST_TRAILER_NAME;
		} else {
			return fail(p, HTTP1_E_TRAILER);
		}
		return 0;
	case ST_TRAILER_NAME:
		if (c == ':')
			p->state = ST_TRAILER_VALUE;
		else if (!is_tchar(c))
			return fail(p, HTTP1_E_TRAILER);
		return 0;
	case ST_TRAILER_VALUE:
		if (c == '\r')
			p->state = ST_TRAILER_LF;
		else if (c == '\n')
			return fail(p, HTTP1_E_BARE_LF);
		else if (!is_text(c))
			return fail(p, HTTP1_E_TRAILER);
		return 0;
	case ST_TRAILER_LF:
		if (c != '\n')
			return fail(p, HTTP1_E_BARE_CR);
		p->state = ST_TRAILER_START;
		return 0;
	default: /* ST_TRAILER_END_LF */
		if (c != '\n')
			return fail(p, HTTP1_E_BARE_CR);
		end_message(p, span);
		return CHUNK_STOP;
	}
}

/* The CRLF after a chunk's data. */
static ssize_t chunk_data_end_byte(struct http1_parser *p, uint8_t c)
{
	if (p->state == ST_CHUNK_DATA_CR) {
		if (c != '\r')
			return fail(p, HTTP1_E_CHUNK_DATA_END);
		p->state = ST_CHUNK_DATA_LF;
		return 0;
	}
	if (c != '\n')
		return fail(p, HTTP1_E_CHUNK_DATA_END);
	p->state = ST_CHUNK_SIZE;
	return 0;
}

/* Consumes chunk-size lines, data CRLFs and trailers until data, the end or the input's end. */
static ssize_t feed_chunk_framing(struct http1_parser *p, const uint8_t *d, size_t len,
				  struct http1_span *span)
{
	size_t i;
	ssize_t rc;

	for (i = 0; i < len; i++) {
		rc = chunk_limits(p);
		if (rc < 0)
			return rc;
		if (p->state >= ST_CHUNK_SIZE && p->state <= ST_CHUNK_LF)
			rc = chunk_size_byte(p, d[i]);
		else if (p->state == ST_CHUNK_DATA_CR || p->state == ST_CHUNK_DATA_LF)
			rc = chunk_data_end_byte(p, d[i]);
		else if (p->state >= ST_TRAILER_START && p->state <= ST_TRAILER_END_LF)
			rc = trailer_byte(p, d[i], span);
		else
			rc = fail(p, HTTP1_E_CHUNK_SIZE); /* not reached */
		if (rc < 0)
			return rc;
		if (rc == CHUNK_STOP)
			return (ssize_t)(i + 1);
	}
	return (ssize_t)i;
}

/* ---- feeding ---------------------------------------------------------------- */

static ssize_t feed_start(struct http1_parser *p, const uint8_t *d, size_t len)
{
	size_t i = 0;

	/* RFC 9112 2.2: a server ignores empty lines before a request line. */
	while (p->kind == HTTP1_REQUEST && i < len) {
		if (p->cr) {
			if (d[i] != '\n')
				return fail(p, HTTP1_E_BARE_CR);
			p->cr = false;
		} else if (d[i] == '\r') {
			p->cr = true;
		} else if (d[i] == '\n') {
			return fail(p, HTTP1_E_BARE_LF);
		} else {
			break;
		}
		i++;
	}
	if (i < len) {
		p->state = ST_HEAD;
		p->have_head = false;
		p->buf_len = 0;
		p->line_len = 0;
		p->cr = false;
	}
	return (ssize_t)i;
}

ssize_t http1_feed(struct http1_parser *p, const void *data, size_t len, struct http1_span *span)
{
	const uint8_t *d = data;
	ssize_t n = 0;
	size_t take;

	memset(span, 0, sizeof(*span));
	if (p->state == ST_ERROR)
		return -EBADMSG;
	if (len == 0)
		return 0;
	if (p->state == ST_START) {
		n = feed_start(p, d, len);
		if (n < 0 || (size_t)n == len)
			return n;
		/* bytes skipped so far are reported with an empty span */
		if (n > 0)
			return n;
	}
	switch (p->state) {
	case ST_HEAD:
		return feed_head(p, d, len, span);
	case ST_BODY_LEN:
		take = len < p->remaining ? len : (size_t)p->remaining;
		p->remaining -= take;
		span->raw = span->body = d;
		span->raw_len = span->body_len = take;
		if (p->remaining == 0)
			end_message(p, span);
		return (ssize_t)take;
	case ST_CHUNK_DATA:
		take = len < p->remaining ? len : (size_t)p->remaining;
		p->remaining -= take;
		span->raw = span->body = d;
		span->raw_len = span->body_len = take;
		if (p->remaining == 0)
			p->state = ST_CHUNK_DATA_CR;
		return (ssize_t)take;
	case ST_BODY_EOF:
		span->raw = span->body = d;
		span->raw_len = span->body_len = len;
		return (ssize_t)len;
	case ST_OPAQUE:
		span->raw = d;
		span->raw_len = len;
		return (ssize_t)len;
	default:
		n = feed_chunk_framing(p, d, len, span);
		if (n > 0) {
			span->raw = d;
			span->raw_len = (size_t)n;
		}
		return n;
	}
}

int http1_finish(struct http1_parser *p)
{
	switch (p->state) {
	case ST_START:
	case ST_OPAQUE:
		return 0;
	case ST_BODY_EOF:
		p->state = ST_START;
		p->expect_flags = 0;
		return 1;
	case ST_ERROR:
		return -EBADMSG;
	default:
		fail(p, HTTP1_E_TRUNCATED);
		return -EBADMSG;
	}
}

void http1_expect(struct http1_parser *p, unsigned request_flags)
{
	p->expect_flags = request_flags & (HTTP1_F_HEAD_METHOD | HTTP1_F_UPGRADE);
}

const struct http1_head *http1_head(const struct http1_parser *p)
{
	return p->have_head ? &p->head : NULL;
}

bool http1_idle(const struct http1_parser *p)
{
	return p->state == ST_START && !p->cr;
}

bool http1_opaque(const struct http1_parser *p)
{
	return p->state == ST_OPAQUE;
}

enum http1_err http1_error(const struct http1_parser *p)
{
	return p->err;
}

const struct http1_header *http1_find_header(const struct http1_head *h, const char *name)
{
	unsigned i;

	for (i = 0; i < h->nheaders; i++)
		if (str_ieq(h->headers[i].name, name))
			return &h->headers[i];
	return NULL;
}

struct http1_str http1_request_path(const struct http1_head *h)
{
	struct http1_str t = h->target;
	const char *sep, *slash;

	if (t.len == 0 || t.p[0] == '/' || t.p[0] == '*')
		return t;
	/* absolute form: scheme "://" authority path-abempty [ "?" query ] */
	sep = memmem(t.p, t.len, "://", 3);
	if (!sep)
		return t;
	sep += 3;
	slash = memchr(sep, '/', (size_t)(t.p + t.len - sep));
	if (!slash) {
		const char *q = memchr(sep, '?', (size_t)(t.p + t.len - sep));
		t.len = q ? (size_t)(t.p + t.len - q) : 0;
		t.p = q ? q : t.p + t.len;
		return t;
	}
	t.len -= (size_t)(slash - t.p);
	t.p = slash;
	return t;
}

enum http1_sniff http1_sniff(const void *data, size_t len)
{
	static const char version[] = "HTTP/1.";
	const uint8_t *d = data;
	size_t i = 0, start;

	while (i < len && (d[i] == '\r' || d[i] == '\n'))
		i++;
	start = i;
	while (i < len && is_tchar(d[i]) && i - start <= 32)
		i++;
	if (i == len)
		return HTTP1_SNIFF_MORE;
	if (i == start || d[i] != ' ')
		return HTTP1_SNIFF_NOT_HTTP;
	start = ++i;
	while (i < len && d[i] > 0x20 && d[i] < 0x7f)
		i++;
	if (i == len)
		return len >= HTTP1_DEFAULT_MAX_HEAD ? HTTP1_SNIFF_HTTP : HTTP1_SNIFF_MORE;
	if (i == start || d[i] != ' ')
		return HTTP1_SNIFF_NOT_HTTP;
	/* HTTP/2's "PRI * HTTP/2.0" preface is not ours to route: it passes through */
	for (i++, start = 0; i < len && start < sizeof(version) - 1; i++, start++)
		if (d[i] != (uint8_t)version[start])
			return HTTP1_SNIFF_NOT_HTTP;
	return start == sizeof(version) - 1 ? HTTP1_SNIFF_HTTP : HTTP1_SNIFF_MORE;
}
