/* Per-stream HTTP/2 (h2c prior knowledge) routing of one client connection for filtered steal. */
#ifndef BPFMIRROR_H2PROXY_H
#define BPFMIRROR_H2PROXY_H

#include "router.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A stream-level HTTP/2 proxy built on libnghttp2: one server session
 * towards the client, one client session per upstream target (the app over
 * one upstream connection, a developer over one session stream). Each
 * request stream is routed by route_table_pick() on its headers, so the
 * filters and the probe rule are exactly those of HTTP/1.1. It is driven
 * like struct router, with the same callbacks; the router hands a
 * connection over when it starts with the HTTP/2 client preface. See
 * docs/design-router.md ("HTTP/2").
 */
struct h2proxy;

/* The 24-byte client connection preface. */
#define H2PROXY_PREFACE	    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2PROXY_PREFACE_LEN 24u

/*
 * 1: data starts with the whole preface; 0: it may still become one (a
 * prefix of it); -1: it cannot.
 */
int h2proxy_sniff(const void *data, size_t len);

/*
 * Counters are added to *stats (owned by the caller, outlives the proxy).
 * Returns NULL and sets errno.
 */
struct h2proxy *h2proxy_new(const struct router_ops *ops, void *ctx,
			    const struct route_table *table, struct router_stats *stats);
void h2proxy_free(struct h2proxy *p);

/* Same contracts as the router_* functions of the same names. */
size_t h2proxy_client_data(struct h2proxy *p, const void *data, size_t len);
void h2proxy_client_eof(struct h2proxy *p);
size_t h2proxy_upstream_data(struct h2proxy *p, uint32_t up, const void *data, size_t len);
void h2proxy_upstream_eof(struct h2proxy *p, uint32_t up);
void h2proxy_upstream_error(struct h2proxy *p, uint32_t up, int err);
void h2proxy_set_client_blocked(struct h2proxy *p, bool blocked);
void h2proxy_set_upstream_blocked(struct h2proxy *p, uint32_t up, bool blocked);
size_t h2proxy_client_room(const struct h2proxy *p);
size_t h2proxy_upstream_room(const struct h2proxy *p, uint32_t up);
bool h2proxy_done(const struct h2proxy *p);

/* Hostile-input counters of this connection (also in the agent's log on close). */
struct h2proxy_stats {
	uint64_t streams;
	uint64_t client_resets;	   /* RST_STREAM from the client */
	uint64_t header_overflows; /* header lists over the limit: stream reset */
	uint64_t protocol_errors;  /* connection ended for a protocol error or flood */
};
const struct h2proxy_stats *h2proxy_stats(const struct h2proxy *p);

#endif
