/* Incremental HTTP/1.x message parser that finds heads and message ends for the L7 router. */
#ifndef BPFMIRROR_HTTP1_H
#define BPFMIRROR_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * The parser never rewrites bytes: the router forwards exactly what it is
 * given. It copies only the head (bounded), so filters can look at it; body
 * bytes are reported as spans of the caller's own input. It is strict where
 * a lenient reading would let a proxy and its upstream frame a message
 * differently (RFC 9112 section 11.2, request smuggling).
 */

enum http1_kind {
	HTTP1_REQUEST,
	HTTP1_RESPONSE,
};

/* Why a message was rejected; http1_err_status() maps it to an HTTP status. */
enum http1_err {
	HTTP1_E_NONE = 0,
	HTTP1_E_HEAD_TOO_LARGE,
	HTTP1_E_TOO_MANY_HEADERS,
	HTTP1_E_BARE_CR,
	HTTP1_E_BARE_LF,
	HTTP1_E_REQUEST_LINE,
	HTTP1_E_METHOD,
	HTTP1_E_TARGET,
	HTTP1_E_VERSION,
	HTTP1_E_STATUS_LINE,
	HTTP1_E_HEADER_NAME,
	HTTP1_E_HEADER_VALUE,
	HTTP1_E_OBS_FOLD,
	HTTP1_E_SPACE_BEFORE_COLON,
	HTTP1_E_CONTENT_LENGTH,
	HTTP1_E_CL_CONFLICT,
	HTTP1_E_CL_AND_TE,
	HTTP1_E_TE_NOT_CHUNKED,
	HTTP1_E_TE_HTTP10,
	HTTP1_E_HOST,
	HTTP1_E_CONNECT,
	HTTP1_E_CHUNK_SIZE,
	HTTP1_E_CHUNK_OVERFLOW,
	HTTP1_E_CHUNK_EXT,
	HTTP1_E_CHUNK_DATA_END,
	HTTP1_E_TRAILER,
	HTTP1_E_UNEXPECTED_101,
	HTTP1_E_TRUNCATED,
	HTTP1_E__COUNT,
};

/* How the body of a message is delimited. */
enum http1_body {
	HTTP1_BODY_NONE,
	HTTP1_BODY_LENGTH,
	HTTP1_BODY_CHUNKED,
	HTTP1_BODY_UNTIL_CLOSE, /* responses only */
};

/* Facts about a head, as HTTP1_F_* bits. */
#define HTTP1_F_KEEP_ALIVE	0x01u /* the sender keeps the connection after this message */
#define HTTP1_F_UPGRADE		0x02u /* request: Upgrade with Connection: upgrade */
#define HTTP1_F_EXPECT_CONTINUE 0x04u /* request: Expect: 100-continue */
#define HTTP1_F_HEAD_METHOD	0x08u /* request: HEAD (its response has no body) */
#define HTTP1_F_INTERIM		0x10u /* response: 1xx other than 101 */
#define HTTP1_F_SWITCHED	0x20u /* response: 101, bytes after it are opaque */

struct http1_limits {
	uint32_t max_head;	 /* bytes of request/status line + headers (and of trailers) */
	uint32_t max_headers;	 /* header lines (and trailer lines) */
	uint32_t max_chunk_line; /* bytes of one chunk-size line with its extensions */
};

#define HTTP1_DEFAULT_MAX_HEAD	     (64u * 1024)
#define HTTP1_DEFAULT_MAX_HEADERS    128u
#define HTTP1_DEFAULT_MAX_CHUNK_LINE 4096u
/* Larger lengths are rejected: no real body is 4 EiB, and sums cannot overflow. */
#define HTTP1_MAX_BODY_LENGTH (1ull << 62)

struct http1_str {
	const char *p;
	size_t len;
};

struct http1_header {
	struct http1_str name;	/* as sent */
	struct http1_str value; /* without leading and trailing whitespace */
};

/* A parsed head; valid from the span that reports it until the next http1_feed(). */
struct http1_head {
	const uint8_t *raw; /* the whole head as received, final CRLF included */
	size_t raw_len;
	struct http1_str method; /* requests */
	struct http1_str target; /* requests */
	int status;		 /* responses */
	struct http1_str reason; /* responses */
	int minor;		 /* HTTP/1.<minor> */
	unsigned flags;		 /* HTTP1_F_* */
	enum http1_body body;
	uint64_t content_length; /* HTTP1_BODY_LENGTH */
	unsigned nheaders;
	const struct http1_header *headers;
};

/*
 * What one http1_feed() call consumed. raw/raw_len is what to forward now
 * (it may be empty while a head is being collected). When head is set, raw
 * is the complete head held by the parser; otherwise raw points into the
 * caller's input. body/body_len is the payload inside raw (empty for chunk
 * framing). end is set on the span that completes a message.
 */
struct http1_span {
	const uint8_t *raw;
	size_t raw_len;
	const uint8_t *body;
	size_t body_len;
	bool head;
	bool end;
};

struct http1_parser;

/* lim may be NULL for the defaults. Returns NULL and sets errno on failure. */
struct http1_parser *http1_new(enum http1_kind kind, const struct http1_limits *lim);
void http1_free(struct http1_parser *p);

/*
 * Consumes bytes from data, stopping after the head, after each body piece
 * and at the end of a message (never past it), and describes them in *span.
 * Returns the number of bytes consumed (at least 1 when len > 0), or
 * -EBADMSG once the input is invalid (see http1_error()); an errored parser
 * stays errored. After a 101 response the parser reports everything as
 * opaque raw bytes.
 */
ssize_t http1_feed(struct http1_parser *p, const void *data, size_t len, struct http1_span *span);

/*
 * The connection closed. Returns 1 when that ends a message whose body runs
 * until close, 0 when the parser is between messages, -EBADMSG (error
 * HTTP1_E_TRUNCATED) when a message was cut short.
 */
int http1_finish(struct http1_parser *p);

/*
 * Response parsers: describes the request the next response answers
 * (HTTP1_F_HEAD_METHOD, HTTP1_F_UPGRADE bits of its head). It holds across
 * interim 1xx responses, until the final response ends.
 */
void http1_expect(struct http1_parser *p, unsigned request_flags);

/* The head of the current (or just finished) message, or NULL before one is complete. */
const struct http1_head *http1_head(const struct http1_parser *p);
/* True between messages (nothing of the next message seen yet). */
bool http1_idle(const struct http1_parser *p);
/* True after a 101 response: the rest of the stream is not HTTP. */
bool http1_opaque(const struct http1_parser *p);
enum http1_err http1_error(const struct http1_parser *p);

/* Human text for an error ("header too large", "invalid chunk size", ...). */
const char *http1_strerror(enum http1_err err);
/* The status a server should answer with for a request rejected for err (400, 431, 501, 505). */
int http1_err_status(enum http1_err err);

/* First header named name (case-insensitive), or NULL. */
const struct http1_header *http1_find_header(const struct http1_head *h, const char *name);
/* Path and query of a request target (origin or absolute form); "*" stays "*". */
struct http1_str http1_request_path(const struct http1_head *h);

enum http1_sniff {
	HTTP1_SNIFF_MORE,     /* not decided yet */
	HTTP1_SNIFF_HTTP,     /* starts like an HTTP/1.x request line */
	HTTP1_SNIFF_NOT_HTTP, /* cannot be one */
};

/* Guesses from the first bytes of a connection whether it carries HTTP/1.x requests. */
enum http1_sniff http1_sniff(const void *data, size_t len);

#endif
