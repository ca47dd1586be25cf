/* The agent's eBPF data plane: load, attach to pods, subscribe, receive and inject packets. */
#ifndef BPFMIRROR_DATAPATH_H
#define BPFMIRROR_DATAPATH_H

#include "bpfmirror_abi.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Usage (single-threaded; one struct datapath per agent process):
 *
 *   struct datapath_opts o = DATAPATH_OPTS_DEFAULT;
 *   struct datapath *dp = datapath_open(&o);          // load BPF, create tun
 *   podroute_lookup(&pod_ip, &ifindex, &node_src);     // agent/node/podroute.h
 *   datapath_attach_pod(dp, ifindex, &node_src);      // per session using the pod
 *   datapath_subscribe(dp, &pod_ip, 8080, DATAPATH_MIRROR, sid);
 *   datapath_reserve_ports(dp, &pod_ip, 61000, 61099, sid);
 *   poll/epoll on datapath_fd(dp) for POLLIN, then
 *   datapath_poll(dp, on_packet, ctx);                // drains all records
 *   (call datapath_poll whenever datapath_fd is readable, even if you expect
 *   nothing: the fd also carries the internal batch and heartbeat timers; no
 *   other timer is needed)
 *   datapath_inject(dp, ippkt, len);                  // packets from the client
 *   datapath_session_end(dp, sid);                    // drops everything of sid
 *   datapath_release_pod(dp, ifindex);
 *   datapath_close(dp);
 *
 * Packets: each record is one IP packet (from the IP header, no Ethernet)
 * with the session ids it belongs to (struct bm_pkt_hdr in
 * bpf/bpfmirror_abi.h); mirror records may list several sessions. Copies
 * may be GSO super-packets (up to 64 KiB) with a partial L4 checksum.
 *
 * Conventions: functions return 0 (or a count) or -errno; addresses are in
 * network byte order inside struct datapath_ip; ports are host order in this
 * API; session ids are nonzero host-order u32 chosen by the caller.
 *
 * Lifetime: tcx links are owned by this process and vanish with it (kill -9
 * included). With the clsact fallback (kernels without tcx) filters outlive
 * the process; datapath_open() removes stale ones it recognises (handle
 * DATAPATH_TC_HANDLE, program names bm_to_pod/bm_from_pod) on every link.
 *
 * Fail open: datapath_poll() writes a heartbeat (CLOCK_MONOTONIC) the
 * programs read; when it is older than BM_HEARTBEAT_STALE_NS (1 s) they pass
 * every packet untouched (counted BM_R_FAIL_OPEN). So a dead agent's clsact
 * filters, or an event loop stuck for a second, never black-hole a pod.
 */

struct datapath;

/* An IPv4 or IPv6 address, network byte order. */
struct datapath_ip {
	int family; /* AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} u;
};

/* Parses "10.0.0.1" or "fd00::1"; returns 0 or -EINVAL. */
int datapath_ip_parse(const char *s, struct datapath_ip *out);

enum datapath_handoff {
	DATAPATH_HANDOFF_RINGBUF = 0, /* records with session ids (production) */
	DATAPATH_HANDOFF_TUN = 1,     /* redirect to the tun, one read() per packet
				       * (benchmark comparison; no session ids) */
};

struct datapath_opts {
	enum datapath_handoff handoff;
	const char *tun_name;	     /* inject (and tun handoff) device; NULL = "bpfm0" */
	const char *tun_addr;	     /* its IPv4 address (/32); NULL = "169.254.239.1" (needed
				      * for reverse-path filtering, see agent/dataplane/tun.h) */
	bool no_tun;		     /* no tun device (tests): datapath_inject -> -ENODEV */
	bool force_clsact;	     /* skip tcx, attach with clsact (tests, old kernels) */
	bool no_stale_cleanup;	     /* skip the startup scan for stale clsact filters */
	uint32_t ring_bytes;	     /* ring buffer size, power of 2; 0 = 2 MiB */
	uint32_t flow_table_size;    /* LRU flow entries; 0 = 65536 */
	uint32_t mirror_batch_bytes; /* 0: every copy may wake the reader (libbpf's
				      * adaptive mode: ~1 wakeup per packet); else a mirror
				      * copy wakes it only when the ring was empty or this
				      * many bytes wait, and datapath_fd() also fires on an
				      * internal DATAPATH_BATCH_POLL_MS timer: transparent
				      * to the caller, steal/return copies always wake */
};

/* Period of the heartbeat timer behind datapath_fd() (fail open after 1 s). */
#define DATAPATH_HEARTBEAT_MS 250

/* Longest a mirror copy waits in the ring with mirror_batch_bytes set. */
#define DATAPATH_BATCH_POLL_MS 2

/* Ring buffer with batched mirror wakeups (measured: docs/design-datapath.md). */
#define DATAPATH_OPTS_DEFAULT                                                                      \
	{                                                                                          \
		.handoff = DATAPATH_HANDOFF_RINGBUF, .mirror_batch_bytes = 64u << 10,              \
	}

/* clsact filter handle/priority used by the fallback (and recognised as ours). */
#define DATAPATH_TC_HANDLE 0xb3f1
#define DATAPATH_TC_PRIO   0xb3f1

/* Loads and verifies the BPF object, creates the tun device; NULL + errno. */
struct datapath *datapath_open(const struct datapath_opts *opts);
/* Detaches everything, removes the tun device, frees dp (NULL is a no-op). */
void datapath_close(struct datapath *dp);

/*
 * Attaches the programs to a pod's host-side link (tcx egress = to the pod,
 * ingress = from the pod), refcounted per ifindex: only the first call
 * attaches, datapath_release_pod() of the last user detaches. node_src, if
 * not NULL, is an address of this node whose SYNs must never be stolen (the
 * route's preferred source toward the pod, see podroute_lookup()); it is
 * registered for the lifetime of dp. Returns 0 or -errno.
 */
int datapath_attach_pod(struct datapath *dp, int ifindex, const struct datapath_ip *node_src);
int datapath_release_pod(struct datapath *dp, int ifindex);
/* True when the pod's link is attached with tcx (false: clsact fallback). */
bool datapath_pod_uses_tcx(const struct datapath *dp, int ifindex);

/* Number of our programs attached to ifindex (tcx or clsact), or -errno. */
int datapath_count_attached(int ifindex);

/* Adds a node address whose SYNs are never stolen (probe sources). */
int datapath_add_node_addr(struct datapath *dp, const struct datapath_ip *addr);

enum datapath_mode {
	DATAPATH_MIRROR = 1,
	DATAPATH_STEAL = 2,
	DATAPATH_FILTERED = 3, /* filtered steal: the agent's router (see datapath_route()) */
};

/*
 * Subscribes session sid to new TCP connections to (pod, port). MIRROR: up
 * to BM_MAX_SESSIONS sessions per (pod, port), -ENOSPC beyond. STEAL: one
 * session per (pod, port), -EBUSY if another one holds it; a steal takes
 * precedence over mirrors (stolen connections never reach the pod).
 * Subscribing again with the same (sid, mode) is a no-op (returns 0).
 */
int datapath_subscribe(struct datapath *dp, const struct datapath_ip *pod, uint16_t port,
		       enum datapath_mode mode, uint32_t sid);
/*
 * Ends sid's subscription on (pod, port) and forgets sid in every flow of
 * that (pod, port): flows with no session left are deleted, so a stolen
 * connection's next packets go to the pod (which resets it) and new
 * connections go to the pod. Returns 0 or -ENOENT.
 */
int datapath_unsubscribe(struct datapath *dp, const struct datapath_ip *pod, uint16_t port,
			 uint32_t sid);

/*
 * Filtered steal: new TCP connections to (pod, port), except from node
 * addresses, are redirected to link ifindex (the agent's router veth); 0
 * stops that for new connections (routed flows keep going to the router
 * until they end). Independent of session subscriptions; a whole-connection
 * steal of the same port takes precedence. Returns 0 or -errno.
 */
int datapath_route(struct datapath *dp, const struct datapath_ip *pod, uint16_t port, int ifindex);

/*
 * Filtered steal with the client's address: attaches bm_from_router to the
 * ingress of the router link (its node side), which sends the router's
 * upstream packets straight to the pod's link (docs/design-router.md,
 * "Transparent upstream"). One router link per data plane: attaching again
 * replaces it. Returns 0 or -errno. Released by datapath_release_router(),
 * datapath_close() or the link's deletion.
 */
int datapath_attach_router(struct datapath *dp, int ifindex);
void datapath_release_router(struct datapath *dp);

/* Reserves ports lo..hi (host order, inclusive) of pod for sid's twin: TCP and
 * UDP packets to those ports go to sid, not the pod. -EBUSY if any is taken
 * (nothing reserved then). */
int datapath_reserve_ports(struct datapath *dp, const struct datapath_ip *pod, uint16_t lo,
			   uint16_t hi, uint32_t sid);
/* Releases the ports of lo..hi that sid holds. */
int datapath_release_ports(struct datapath *dp, const struct datapath_ip *pod, uint16_t lo,
			   uint16_t hi, uint32_t sid);

/* Drops every subscription, reserved port and flow entry of sid (disconnect). */
int datapath_session_end(struct datapath *dp, uint32_t sid);

/* One handed-off packet; valid only during the callback. */
struct datapath_pkt {
	const struct bm_pkt_hdr *hdr; /* sessions, reason, dir, lengths, flags */
	const uint8_t *data;	      /* IP packet (hdr->cap_len bytes) */
	size_t len;		      /* == hdr->cap_len */
};

/* Called per packet; a nonzero return stops the drain and is returned by poll. */
typedef int (*datapath_pkt_cb)(void *ctx, const struct datapath_pkt *pkt);

/* An fd that becomes readable (POLLIN/EPOLLIN) when packets are waiting. */
int datapath_fd(const struct datapath *dp);
/* Drains waiting packets without blocking, calling cb for each; returns the
 * number handled or -errno. In TUN handoff mode the header is synthesised
 * (sessions all 0, reason MIRRORED, pkt_len = cap_len). */
int datapath_poll(struct datapath *dp, datapath_pkt_cb cb, void *ctx);

/* Emits one IP packet into the node's network stack as if it arrived from a
 * link (via the tun: routed and forwarded normally). The caller validates
 * sources; checksums must be complete. Returns 0 or -errno (-EAGAIN when the
 * device queue is full). */
int datapath_inject(struct datapath *dp, const void *ippkt, size_t len);
/* Injects n packets; returns how many were emitted, or -errno if none. */
int datapath_inject_batch(struct datapath *dp, const struct datapath_pkt *pkts, size_t n);

/* Sums the per-CPU counters: out[r] for each enum bm_reason r. */
int datapath_stats(const struct datapath *dp, struct bm_stat out[BM_R_MAX]);
/* Name of a reason ("mirrored", "stolen", ...) for metrics and logs. */
const char *datapath_reason_name(unsigned int reason);

/* Flow table lookup (tests, diagnostics): key oriented client -> pod. */
int datapath_flow_lookup(const struct datapath *dp, const struct bm_flow_key *key,
			 struct bm_flow *out);
/*
 * The session a stolen flow belongs to (key oriented client -> pod): the
 * flow's stealing session, 0 when the flow is unknown or not stolen.
 */
uint32_t datapath_flow_stealer(const struct datapath *dp, const struct bm_flow_key *key);
/* Number of live flow entries (walks the table). */
int datapath_flow_count(const struct datapath *dp);

/* Writes the heartbeat now (datapath_poll does it on every call). */
void datapath_heartbeat(struct datapath *dp);
/* Writes heartbeat MONO_NS (CLOCK_MONOTONIC ns; 0 = never): tests of the fail-open path. */
void datapath_heartbeat_set(struct datapath *dp, uint64_t mono_ns);

/* Program fds (BPF_PROG_RUN tests): dir is BM_DIR_TO_POD or BM_DIR_FROM_POD. */
int datapath_prog_fd(const struct datapath *dp, enum bm_dir dir);
/* Fd of bm_from_router (BPF_PROG_RUN tests). */
int datapath_router_prog_fd(const struct datapath *dp);
/* Name and ifindex of the tun device, "" / 0 without one. */
const char *datapath_tun_name(const struct datapath *dp);
int datapath_tun_ifindex(const struct datapath *dp);

#endif
