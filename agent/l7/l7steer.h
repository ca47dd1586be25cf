/* Filtered-steal socket glue: steer-namespace listeners, one HTTP router per connection. */
#ifndef BPFMIRROR_L7STEER_H
#define BPFMIRROR_L7STEER_H

#include "datapath.h"
#include "wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * One l7steer per agent. Sessions with an HTTP filter add themselves to the
 * route table of each (pod IP, port) they attach to, in attach order; while
 * at least one of them is ready (its local app listens), the data plane
 * steers new connections to the port into the steer namespace
 * (agent/l7/steerns.h), where this module accepts them and drives one
 * struct router (agent/l7/router.h) each. Upstreams: target 0 is a
 * non-blocking connection to the pod's app from the steer namespace, bound
 * to the client's address and port (IP_TRANSPARENT; the data plane carries
 * it to the pod and the pod's answers back), or from the node's namespace
 * when that is impossible (node sources are never steered); a session
 * target is a stream of Stream* frames on that session's control
 * connection.
 */
struct agent;
struct l7steer;

struct l7steer_stats {
	uint64_t conns_accepted;
	uint64_t conns_active;
	uint64_t requests;
	uint64_t to_app;
	uint64_t to_sessions;
	uint64_t fallbacks; /* resent to the app after a session failed */
	uint64_t errors;    /* error responses made by the router */
	uint64_t passthrough;
	uint64_t h2_conns;
	uint64_t h2_rejects; /* hostile HTTP/2 input (agent/l7/h2proxy.h) */
	uint64_t streams_opened;
	uint64_t stream_overflows; /* a session sent more than a stream may queue: reset */
	uint64_t app_connect_errors;
	uint64_t passthru_fallbacks; /* app connections made from the node, not the client */
};

struct l7steer *l7steer_new(struct agent *ag);
void l7steer_free(struct l7steer *l7);

/*
 * Appends session sid (not ready yet) to the route table of (pod, port);
 * the first one creates the steer namespace and the port's listener.
 * Returns 0, or -errno with a sentence in err (invalid regex: -EINVAL).
 */
int l7steer_add(struct l7steer *l7, uint32_t sid, const struct datapath_ip *pod, uint16_t port,
		const char *header_re, const char *path_re, char *err, size_t errlen);
/* Ready: the session's local app listens (Subscribe); not ready: Unsubscribe. */
int l7steer_set_ready(struct l7steer *l7, uint32_t sid, uint16_t port, bool ready);
/* Session gone: its streams are reset (requests not yet answered go to the app), filters removed.
 */
void l7steer_session_gone(struct l7steer *l7, uint32_t sid);
/* A StreamData/StreamHalfClose/StreamClose frame from session sid. */
void l7steer_on_frame(struct l7steer *l7, uint32_t sid, const Bpfmirror__Frame *f);
/* Session sid's send queue drained below the limit: streams may send again. */
void l7steer_session_writable(struct l7steer *l7, uint32_t sid);

void l7steer_stats(const struct l7steer *l7, struct l7steer_stats *out);

#endif
