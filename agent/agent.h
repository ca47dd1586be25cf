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
};

#define AGENT_DEFAULT_LISTEN  "127.0.0.1:47100"
#define AGENT_DEFAULT_METRICS "127.0.0.1:47101"
#define AGENT_HEARTBEAT_MS    2000u

struct agent;

/* Opens the listeners and the data plane; NULL with errno on failure. */
struct agent *agent_new(const struct agent_opts *opts);
/* Serves until agent_stop() (or SIGINT/SIGTERM via the caller); 0 or -errno. */
int agent_run(struct agent *ag);
void agent_stop(struct agent *ag);
/* Ends every session (detaching its programs) and frees the agent. */
void agent_free(struct agent *ag);

#endif
