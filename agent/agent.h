/* The node agent: control listener, sessions, data plane and metrics in one loop. */
#ifndef BPFMIRROR_AGENT_H
#define BPFMIRROR_AGENT_H

#include <stdbool.h>

struct agent_opts {
	const char *listen;	 /* control address "IP:PORT"; default 127.0.0.1:47100 */
	const char *metrics;	 /* metrics address "IP:PORT"; NULL/"" = off */
	const char *proc_root;	 /* "/proc" */
	const char *node_name;	 /* reported in HelloReply; default: hostname */
	const char *policy_path; /* YAML policy file; NULL = allow everything */
	const char *pod_logs;	 /* kubelet's pod log dirs, to verify namespaces; "/var/log/pods" */
	unsigned heartbeat_ms;	 /* a session silent for 3 intervals is dead */
	bool no_datapath;	 /* run without BPF (protocol tests) */
	bool force_clsact;	 /* attach with clsact instead of tcx */
	unsigned ring_mib;	 /* BPF ring buffer size in MiB (power of 2); 0 = default */
	unsigned max_sessions;	 /* sessions at once; 0 = AGENT_MAX_SESSIONS */
};

#define AGENT_DEFAULT_LISTEN  "127.0.0.1:47100"
#define AGENT_DEFAULT_METRICS "127.0.0.1:47101"
#define AGENT_HEARTBEAT_MS    2000u

/*
 * What clients may make the agent hold (docs/protocol.md, "Limits"). With the
 * defaults the agent stays well under the chart's 128 MiB memory limit: the
 * input and output budgets, each session's own small buffers, and one frame
 * being decoded (its length + BPFMIRROR_DECODE_SLACK, and for a compressed
 * batch BPFMIRROR_BATCH_RAW_MAX more) are all it can be made to allocate.
 */
#define AGENT_MAX_SESSIONS	 32u
#define AGENT_MAX_SESSIONS_LIMIT 256u /* the most --max-sessions accepts */
/* Unsent bytes one session may queue (a client that reads too slowly). */
#define AGENT_SESSION_QUEUE_MAX (8u << 20)
/* Buffer bytes each session holds outside the shared budgets below. */
#define AGENT_SESSION_IN_BASE  (128u << 10)
#define AGENT_SESSION_OUT_BASE (64u << 10)
/* Input buffers (frames being received) of all sessions above their base. */
#define AGENT_INPUT_BUDGET (16u << 20)
/* Output buffers (unsent frames) of all sessions above their base. */
#define AGENT_OUTPUT_BUDGET (24u << 20)
/* Heartbeat intervals a session's unsent bytes may wait without the client taking one. */
#define AGENT_STALL_BEATS 3u

struct agent;

/* Opens the listeners and the data plane; NULL with errno on failure. */
struct agent *agent_new(const struct agent_opts *opts);
/* Serves until agent_stop() (or SIGINT/SIGTERM via the caller); 0 or -errno. */
int agent_run(struct agent *ag);
void agent_stop(struct agent *ag);
/* Ends every session (detaching its programs) and frees the agent. */
void agent_free(struct agent *ag);

#endif
