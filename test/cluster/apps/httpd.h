/* Minimal HTTP/1.1 server shared by the demo apps: a thread per connection, keep-alive, bounded
 * buffers. */
#ifndef SIMCLUSTER_HTTPD_H
#define SIMCLUSTER_HTTPD_H

#include <stddef.h>

#define HTTPD_MAX_HEADER 8192
#define HTTPD_MAX_BODY	 16384
#define HTTPD_MAX_CONNS	 512

struct http_request {
	char method[16];
	char path[512];
	char tenant[129]; /* X-PG-Tenant, "" when absent */
	char user_agent[128];
	char peer[64]; /* client IP as text */
	int keep_alive;
};

struct http_reply {
	int status;
	char body[HTTPD_MAX_BODY];
	size_t len;
};

/* Handles one request; writes status and body (JSON) into rep. ctx is per connection. */
typedef void (*http_handler)(const struct http_request *req, struct http_reply *rep, void *ctx);

struct httpd_ops {
	http_handler handle;
	void *(*conn_open)(void); /* optional per-connection context */
	void (*conn_close)(void *ctx);
};

/* Listens on 0.0.0.0:port and serves forever; returns -errno only on setup failure. */
int httpd_serve(int port, const struct httpd_ops *ops);

/* Appends printf-style text to rep->body, truncating safely. */
void reply_printf(struct http_reply *rep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends s as a JSON string literal (with quotes) to rep->body. */
void reply_json_string(struct http_reply *rep, const char *s);

/* Reads an integer environment variable, or def when unset or invalid. */
int env_int(const char *name, int def);

#endif
