/* The developer side of an attach session: agent links, the twin's tun, the replayer, until exit.
 */
/* (The agent's side of the same session is agent/session*.c.) */
#ifndef BPFMIRROR_ATTACH_SESSION_H
#define BPFMIRROR_ATTACH_SESSION_H

#include "client.h"
#include "twin.h"

#include <stdbool.h>
#include <stdint.h>

#define ATTACH_MAX_LINKS 16
#define ATTACH_MAX_PORTS 32

/* What an attach asks of each agent; kept for re-attaching after a loss. */
struct attach_params {
	const char *identity;
	const char *ns;
	bool steal;
	const char *header;
	const char *path;
	uint32_t ports[ATTACH_MAX_PORTS];
	size_t nports;
	bool exit_on_disconnect;
	bool interactive;	/* an interactive shell: Ctrl-C is its, not ours */
	const char *files_root; /* staged container files (podfiles.h) */
	char *const *rw_paths;	/* fs.read_write: changes are written back to the pod */
};

/* One target pod and the agent session that serves it. */
struct link {
	char agent_addr[96];
	char pod_name[254];
	char pod_uid[64];
	char pod_ip[46];
	char container_id[200];
	char container_name[254];
	struct bm_client *cl;
	char session_id[32];
	uint32_t pod_ip_be;
	uint16_t range_lo, range_hi;
	bool up;
	int64_t retry_at_ms;
	bool stealing[ATTACH_MAX_PORTS]; /* steal active for ports[i] (Subscribe sent) */
};

/* Connects and attaches one link; on success *reply holds the AttachReply. */
int link_attach(struct link *l, const struct attach_params *p, Bpfmirror__Frame **reply, char *err,
		size_t errlen);

struct attach_session_stats {
	uint64_t pkts_from_agent;
	uint64_t pkts_to_agent;
	uint64_t pkts_to_tun;
	uint64_t tun_write_errors;
	uint64_t disconnects;
};

/*
 * Runs the session until the twin's command exits (its exit status is
 * returned, 128+N for a signal) or, with exit_on_disconnect, an agent link
 * is lost (then 1 after stopping the command). Links must be attached.
 */
int attach_session_run(struct link *links, size_t nlinks, const struct attach_params *p,
		       struct twin *tw, struct attach_session_stats *st);

#endif
