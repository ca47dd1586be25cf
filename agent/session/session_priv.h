/* Internal state of one agent session, shared by the session_*.c modules. */
#ifndef BPFMIRROR_SESSION_PRIV_H
#define BPFMIRROR_SESSION_PRIV_H

#include "agent_priv.h"
#include "datapath.h"
#include "httpfilter.h"
#include "portrange.h"
#include "wire.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define SESSION_MAX_PORTS  32
#define BATCH_MAX_PACKETS  256
#define BATCH_MAX_BYTES	   (1u << 20)
#define DEFAULT_RANGE_SIZE 2048u
/*
 * The most ports one session may reserve: with BM_RESERVED_MAX entries shared
 * by every session on the node, no single client can take the table.
 */
#define MAX_RANGE_SIZE 4096u
#define RESOLV_MAX     (64u << 10)

enum session_state {
	S_HELLO = 0, /* waiting for Hello */
	S_READY,     /* handshake done, not attached */
	S_ATTACHED,
};

/*
 * A port of the session. A steal is claimed at attach (so a second whole-
 * connection steal of that pod port is refused at once) but active in the
 * data plane only while the developer's process listens: the CLI sends
 * Subscribe/Unsubscribe as its listener comes and goes.
 */
struct sub {
	uint16_t port;
	enum datapath_mode mode;
	bool active;
};

struct session {
	struct agent *ag;
	struct session *next;
	int fd;
	uint32_t id;
	enum session_state state;
	struct frame_reader *rd;
	struct frame_writer *wr;
	struct ev_timer *hb_timer;
	int64_t last_rx_ms;
	char identity[128];
	char peer[64];
	bool zlib; /* peer accepts compressed packet batches */
	/* A client that stops reading: writer progress seen at the last heartbeat tick. */
	uint64_t tx_seen;
	unsigned tx_stalls;

	/* attach */
	char ns[254];
	char pod_ip_str[INET6_ADDRSTRLEN];
	struct datapath_ip pod_ip;
	int ifindex;
	pid_t pid;
	int root_fd;
	struct port_range range;
	bool range_held;
	struct sub subs[SESSION_MAX_PORTS];
	size_t nsubs;
	/* filtered steal (agent/l7/l7steer.h) */
	char filter_header[HTTPFILTER_MAX_REGEX + 1];
	char filter_path[HTTPFILTER_MAX_REGEX + 1];

	/* outgoing packet batch */
	Bpfmirror__Packet pkts[BATCH_MAX_PACKETS];
	Bpfmirror__Packet *pkt_ptrs[BATCH_MAX_PACKETS];
	uint8_t *pkt_data[BATCH_MAX_PACKETS];
	size_t npkts;
	size_t batch_bytes;
};

/* session.c: sending and teardown */
void session_update_interest(struct session *s);
int session_send_frame(struct session *s, Bpfmirror__Frame *f);
int session_send_error(struct session *s, uint64_t req, Bpfmirror__Error__Code code, bool fatal,
		       const char *msg);
int session_send_ack(struct session *s, uint64_t req);
void session_fail(struct session *s, uint64_t req, Bpfmirror__Error__Code code, const char *msg);
void session_release_dataplane(struct session *s);
struct session *session_find(struct agent *ag, uint32_t id);

/* session_attach.c: attach, port claims and subscriptions */
int session_on_attach(struct session *s, const Bpfmirror__Frame *f);
int session_on_subscribe(struct session *s, const Bpfmirror__Frame *f, bool add);

/* session_packets.c: packets both ways */
int session_on_packets(struct session *s, const Bpfmirror__Frame *f);
/* The session stealing a flow (key oriented client -> pod), 0 if none: the BPF flow table
 * (datapath_flow_stealer) in the agent, a stand-in in unit tests. */
typedef uint32_t (*session_flow_owner_fn)(const void *ctx, const struct bm_flow_key *key);
/* Whether the client may inject packet P as its pod: INJECT_OK, or why not. */
enum inject_refusal session_packet_check(const struct session *s, const uint8_t *p, size_t len,
					 session_flow_owner_fn owner, const void *ctx);
void session_batch_clear(struct session *s);

/* session_files.c: the container's files */
int session_on_file(struct session *s, const Bpfmirror__Frame *f);

#endif
