/* The CLI side of the control channel: connect, handshake, requests and frames. */
#ifndef BPFMIRROR_CLIENT_H
#define BPFMIRROR_CLIENT_H

#include "wire.h"

#include <stdint.h>

struct bm_client;

/*
 * Connects to an agent at "HOST:PORT" within timeout_ms and performs the
 * handshake. On failure returns NULL, sets errno and writes a sentence for
 * the user into err (e.g. "agent at 10.0.0.1:47100 is unreachable: ...").
 */
struct bm_client *client_connect(const char *addr, const char *identity, int timeout_ms, char *err,
				 size_t errlen);
void client_close(struct bm_client *c);

/* The socket (non-blocking) and the agent's HelloReply facts. */
int client_fd(const struct bm_client *c);
const char *client_node_name(const struct bm_client *c);
const char *client_agent_version(const struct bm_client *c);

/*
 * Sends REQ (its request_id is assigned here) and waits up to timeout_ms for
 * the frame answering it. Frames that arrive meanwhile and answer nothing
 * (packet batches, streams) are queued for client_next(). Returns 0 with
 * *reply set (free with wire_frame_free), -ETIMEDOUT, or another -errno. An
 * Error reply is returned as a reply (check body_case).
 */
int client_request(struct bm_client *c, Bpfmirror__Frame *req, int timeout_ms,
		   Bpfmirror__Frame **reply);

/* Queues one frame without waiting (packets, heartbeat answers). */
int client_send(struct bm_client *c, const Bpfmirror__Frame *f);
/* Writes queued bytes; 0 when all are out, 1 when some wait, -errno. */
int client_flush(struct bm_client *c);
int client_pending(const struct bm_client *c);
/* Bytes queued and not yet written. */
size_t client_queued(const struct bm_client *c);

/*
 * Next frame from the agent, waiting up to timeout_ms (0: do not wait).
 * Returns 1 with *f set, 0 on timeout, -EPIPE when the agent closed the
 * connection, or another -errno (malformed frames: -EPROTO, -EMSGSIZE).
 */
int client_next(struct bm_client *c, int timeout_ms, Bpfmirror__Frame **f);

/* Sends a Heartbeat request (not waiting for the answer). */
int client_heartbeat(struct bm_client *c);

/* Formats an Error frame for humans: "CODE: message". */
const char *client_error_text(const Bpfmirror__Frame *f, char *buf, size_t len);

#endif
