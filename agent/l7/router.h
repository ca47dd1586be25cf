/* L7 router of one downstream connection for filtered steal, independent of sockets. */
#ifndef BPFMIRROR_ROUTER_H
#define BPFMIRROR_ROUTER_H

#include "http1.h"
#include "httpfilter.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The agent terminates each client connection of a filtered-steal port in a
 * router and drives it with what arrives: bytes from the client, bytes from
 * the upstreams the router opened (the real app over a socket, or a session
 * over Stream* messages), closes and a sniff timer. The router answers
 * through the callbacks in struct router_ops. See docs/design-router.md.
 */

/* Upstream target: the pod's own app, or a session id. */
#define ROUTER_TARGET_APP 0u

/* ---- route table: the sessions of one pod port, in attach order ---------- */

struct route_table;

struct route_table *route_table_new(void);
void route_table_free(struct route_table *t);
/* Appends a session (ids are non-zero); the table owns filter from now on, also on failure. */
int route_table_add(struct route_table *t, uint32_t session_id, struct httpfilter *filter);
int route_table_remove(struct route_table *t, uint32_t session_id);
/* Sessions start ready; one whose local app is not listening gets no requests. */
int route_table_set_ready(struct route_table *t, uint32_t session_id, bool ready);
/*
 * The policy's header requirement for one session: from now on it gets only
 * requests that carry header NAME (case-insensitive), every copy of which has
 * exactly VALUE (byte for byte, after the parser's trimming of blanks).
 */
int route_table_require_header(struct route_table *t, uint32_t session_id, const char *name,
			       const char *value);
unsigned route_table_count(const struct route_table *t);
/*
 * The first ready session whose required header (if any) and filter match,
 * else ROUTER_TARGET_APP.
 * Kubelet probes (User-Agent: kube-probe/...) always go to the app.
 */
uint32_t route_table_pick(const struct route_table *t, const struct http1_head *h);

/* ---- router ---------------------------------------------------------------- */

/*
 * Callbacks. They must not call back into the router; they queue what they
 * are given and report trouble later through router_upstream_error() etc.
 * A write returning a negative errno counts as that peer failing.
 * Upstream ids are chosen by the router, unique within one router.
 */
struct router_ops {
	int (*client_write)(void *ctx, const void *data, size_t len);
	/* No more bytes for the client (FIN once the queue is flushed); it may still send. */
	void (*client_shutdown)(void *ctx);
	/* The router is done: close the client (reset: abortively) after flushing. */
	void (*client_close)(void *ctx, bool reset);
	/* Connect upstream id to target; a negative errno fails it at once. */
	int (*upstream_open)(void *ctx, uint32_t up, uint32_t target);
	int (*upstream_write)(void *ctx, uint32_t up, const void *data, size_t len);
	/* No more bytes for this upstream (FIN); it may still send. Tunnels only. */
	void (*upstream_shutdown)(void *ctx, uint32_t up);
	/* Forget this upstream (reset: abortively); no further events are expected for it. */
	void (*upstream_close)(void *ctx, uint32_t up, bool reset);
};

struct router_limits {
	struct http1_limits http;
	size_t client_buf;	   /* client bytes held while they cannot be forwarded */
	size_t upstream_buf;	   /* upstream bytes held while the client is blocked */
	size_t replay_buf;	   /* request bytes kept to resend after an upstream failure */
	unsigned max_upstreams;	   /* upstream connections per client connection */
	unsigned sniff_timeout_ms; /* silence after which a connection is passed through */
};

#define ROUTER_DEFAULT_BUF	     (64u * 1024)
#define ROUTER_DEFAULT_UPSTREAMS     8u
#define ROUTER_DEFAULT_SNIFF_TIMEOUT 1000u
/* Sniffing stops here: a request line this long is treated as HTTP. */
#define ROUTER_SNIFF_MAX 8192u

struct router_stats {
	uint64_t requests;
	uint64_t to_sessions;
	uint64_t to_app;
	uint64_t retries;    /* resent on a fresh connection to the same target */
	uint64_t fallbacks;  /* resent to the app after a session failed */
	uint64_t errors;     /* error responses made by the router (400/431/501/502/505) */
	bool passthrough;    /* not HTTP/1.x: handed to the app untouched */
	bool upgraded;	     /* after a 101: an opaque tunnel */
	bool h2;	     /* HTTP/2: routed per stream (requests count streams) */
	uint64_t h2_rejects; /* hostile HTTP/2 input: streams reset or the connection ended */
};

struct router;

/* table must outlive the router; lim may be NULL. Returns NULL and sets errno. */
struct router *router_new(const struct router_ops *ops, void *ctx, const struct route_table *table,
			  const struct router_limits *lim);
/* Frees the router; closes nothing (the caller owns its sockets and streams). */
void router_free(struct router *r);

/*
 * Bytes from the client. Returns how many were taken (the rest must be
 * offered again later; see router_client_room()).
 */
size_t router_client_data(struct router *r, const void *data, size_t len);
/* The client sent FIN. */
void router_client_eof(struct router *r);
/* Bytes from upstream up; returns how many were taken. */
size_t router_upstream_data(struct router *r, uint32_t up, const void *data, size_t len);
/* Upstream up sent FIN. */
void router_upstream_eof(struct router *r, uint32_t up);
/* Upstream up failed (connect refused, reset, session gone); err is a negative errno. */
void router_upstream_error(struct router *r, uint32_t up, int err);
/* The sniff timer (router_sniff_timeout_ms() after creation) fired. */
void router_timeout(struct router *r);

/*
 * Flow control: the caller says when its queue towards a peer is too long;
 * the router then stops forwarding to it and, once its own bounded buffers
 * are full, stops taking input from the other side.
 */
void router_set_client_blocked(struct router *r, bool blocked);
void router_set_upstream_blocked(struct router *r, uint32_t up, bool blocked);
/* How many client (upstream) bytes the router takes now; 0: stop reading. */
size_t router_client_room(const struct router *r);
size_t router_upstream_room(const struct router *r, uint32_t up);

unsigned router_sniff_timeout_ms(const struct router *r);
/* True once client_close() was called. */
bool router_done(const struct router *r);
const struct router_stats *router_stats(const struct router *r);

#endif
