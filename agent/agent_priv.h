/* Internal state of the agent shared by its modules (server, session, metrics). */
#ifndef BPFMIRROR_AGENT_PRIV_H
#define BPFMIRROR_AGENT_PRIV_H

#include "agent.h"
#include "evloop.h"
#include "frame.h"
#include "policy.h"

#include <stddef.h>
#include <stdint.h>

struct datapath;
struct session;
struct metrics_server;
struct l7steer;

/* Why a client packet was not injected (session_packets.c; metrics by reason). */
enum inject_refusal {
	INJECT_OK = 0,
	INJECT_MALFORMED, /* not one whole IPv4 packet with its transport ports */
	INJECT_SOURCE,	  /* source address is not the session's pod */
	INJECT_FRAGMENT,  /* a fragment: no ports to check */
	INJECT_PROTOCOL,  /* not TCP, UDP or ICMP */
	INJECT_PORT,	  /* source port neither reserved by the session nor stolen by it */
	INJECT_FLOW,	  /* a port it steals, but not a flow the agent handed to it */
	INJECT_ICMP,	  /* ICMP that is not an error about one of the session's flows */
	INJECT_REFUSAL_MAX,
};

/* Counters of the agent itself; the data plane keeps its own per reason. */
struct agent_counters {
	uint64_t sessions_total;
	uint64_t sessions_failed; /* ended by an error (protocol, policy, timeout) */
	uint64_t attach_errors;
	uint64_t frames_in;
	uint64_t frames_out;
	uint64_t frame_errors;	   /* malformed, oversized, unknown frames */
	uint64_t sessions_refused; /* connections above the session limit */
	uint64_t heartbeat_timeouts;
	uint64_t packets_to_client;
	uint64_t bytes_to_client;
	uint64_t packets_backlog_drop; /* client too slow: batch dropped */
	uint64_t packets_from_client;
	uint64_t packets_injected;
	uint64_t packets_rejected; /* not of the session's flows (sum of the next) */
	uint64_t packets_refused[INJECT_REFUSAL_MAX]; /* by enum inject_refusal */
	uint64_t inject_errors;
	uint64_t file_requests;
	uint64_t file_denied;
};

struct agent {
	struct agent_opts opts;
	struct evloop *loop;
	struct datapath *dp;
	struct policy *policy;
	struct metrics_server *metrics;
	struct l7steer *l7; /* filtered steal; NULL without a data plane */
	int listen_fd;
	uint32_t next_sid;
	struct session *sessions;
	struct agent_counters ctr;
	/* Shared by every session's frame reader / writer (agent.h, "Limits"). */
	struct frame_budget in_budget;
	struct frame_budget out_budget;
	char node_name[256];
};

/* session.c */
struct session *session_new(struct agent *ag, int fd);
void session_close(struct session *s, const char *why);
unsigned agent_session_count(const struct agent *ag);
unsigned agent_subscription_count(const struct agent *ag);
/* session_packets.c: name of a refusal reason for metrics ("port", "flow", ...). */
const char *session_refusal_name(enum inject_refusal r);
/* Delivers one handed-off packet to the sessions named in its header. */
int session_deliver_packet(struct agent *ag, const void *pkt);
/* Sends the packet batches queued by session_deliver_packet(). */
void session_flush_all(struct agent *ag);
/* Filtered steal: queues a Stream* frame to session sid (0 or -errno, never closes it). */
struct Bpfmirror__Frame;
int session_stream_send(struct agent *ag, uint32_t sid, struct Bpfmirror__Frame *f);
/* Bytes queued toward session sid (backpressure for its streams). */
size_t session_stream_queued(struct agent *ag, uint32_t sid);

#endif
