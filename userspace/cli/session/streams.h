/* Filtered steal on the developer side: the agent's streams as connections to the local app. */
#ifndef BPFMIRROR_CLI_STREAMS_H
#define BPFMIRROR_CLI_STREAMS_H

#include "evloop.h"
#include "attach_session.h"
#include "wire.h"

#include <sys/types.h>

/*
 * Each StreamOpen from an agent becomes a TCP connection, inside the twin's
 * network namespace, to the pod's address and the stream's port (where the
 * developer's process listens); bytes, half-closes and resets are relayed
 * both ways. The sockets are made by a small helper process that joined the
 * twin's user and network namespaces (no privileges needed: the developer
 * owns them) and passes them back over a socketpair. Each socket is bound to
 * the original client's address and port (an alias on the twin's loopback),
 * so the local process sees the real caller as its peer, as it would in the
 * pod; where that bind fails the peer is the pod's own address. The router
 * never rewrites bytes (no X-Forwarded-For).
 */
struct streams;

struct streams_opts {
	struct evloop *loop;
	pid_t twin_pid;
	/* Arms write interest on the link after a frame was queued. */
	void (*kick)(void *ctx, struct link *l);
	void *ctx;
};

struct streams *streams_new(const struct streams_opts *o);
void streams_free(struct streams *ss);
/* A Stream* frame from link l's agent. */
void streams_on_frame(struct streams *ss, struct link *l, const Bpfmirror__Frame *f);
/* Link l went down (or its queue drained): its streams are closed (or resume reading). */
void streams_link_down(struct streams *ss, struct link *l);
void streams_link_writable(struct streams *ss, struct link *l);

#endif
