/* The one ABI shared by the BPF data plane and userspace: map keys/values, records, reasons. */
#ifndef BPFMIRROR_ABI_H
#define BPFMIRROR_ABI_H

/*
 * Compiles in two worlds: BPF objects get the types from vmlinux.h (included
 * before this header), userspace gets them from <linux/types.h>. Every field
 * states its byte order: "be" = network order, "host" = CPU order. Padding is
 * explicit and must be zero in keys (hash maps compare whole keys).
 */
#if defined(__bpf__) || defined(__BPF__)
/* types come from vmlinux.h */
#else
#include <linux/types.h>
#endif

/* Most mirror sessions that can share one (pod address, port). */
#define BM_MAX_SESSIONS 4

/* Bytes of one packet copied into a ring-buffer record (from the L3 header). */
#define BM_CAP_MAX 65535

/*
 * The programs pass everything (BM_R_FAIL_OPEN) when the agent's heartbeat,
 * a bpf_ktime_get_ns()/CLOCK_MONOTONIC timestamp it writes to the .bss
 * variable bm_agent_heartbeat_ns, is older than this.
 */
#define BM_HEARTBEAT_STALE_NS 1000000000ULL

/* Address families in keys (values of AF_INET/AF_INET6 on Linux). */
#define BM_AF_INET  2
#define BM_AF_INET6 10

/* Why a packet took the path it took; index of the per-CPU stats array. */
enum bm_reason {
	BM_R_PASSED = 0,      /* no subscription, flow or reserved port: untouched */
	BM_R_MIRRORED,	      /* copied to userspace, original delivered */
	BM_R_STOLEN,	      /* handed to userspace, not delivered to the pod */
	BM_R_RETURNED,	      /* reply to a twin's reserved port: handed off, dropped */
	BM_R_MIRROR_ACK,      /* pure ACK of a mirrored flow: delivered, not copied */
	BM_R_PROBE,	      /* SYN from a node address to a steal port: left to the pod */
	BM_R_STEAL_FROM_POD,  /* pod sent a packet on a stolen flow: dropped */
	BM_R_NOT_IP,	      /* not IPv4/IPv6: passed */
	BM_R_NOT_L4,	      /* not TCP/UDP (or IPv6 extension headers): passed */
	BM_R_FRAGMENT,	      /* IPv4 fragment: no ports to match, passed */
	BM_R_SHORT,	      /* truncated or malformed headers: passed */
	BM_R_HANDOFF_FAILED,  /* ring buffer full / redirect failed (packet still dropped
			       * for steal/return, still delivered for mirror) */
	BM_R_FLOW_TABLE_FULL, /* flow entry could not be created: flow not tracked */
	BM_R_TRUNCATED,	      /* copy shorter than the packet (larger than BM_CAP_MAX) */
	BM_R_ROUTED,	      /* filtered steal: redirected to the agent's L7 router */
	BM_R_FAIL_OPEN,	      /* agent heartbeat stale: passed untouched */
	BM_R_ROUTER_UPSTREAM, /* the router's own connection to the pod (client's address) */
	BM_R_ROUTER_REPLY,    /* the pod's answer on such a connection: to the router */
	BM_R_MAX,
};

/* Verdict stored in a flow entry. */
enum bm_verdict {
	BM_V_NONE = 0,
	BM_V_MIRROR = 1,
	BM_V_STEAL = 2,
	BM_V_ROUTE = 3, /* filtered steal: the flow goes to the agent's L7 router */
};

/*
 * Filtered steal: packets of routed flows are redirected (tc egress of the
 * pod's link -> egress of the agent's router veth, whose peer lives in the
 * agent's private router namespace). Their destination MAC is rewritten to
 * this fixed address, which the agent gives the peer, so the peer accepts
 * them as PACKET_HOST. A locally administered unicast address.
 */
#define BM_ROUTER_MAC                                                                              \
	{                                                                                          \
		0x02, 0x62, 0x6d, 0x72, 0x74, 0x01                                                 \
	}

/* Direction of a packet relative to the pod, as seen on its host-side link. */
enum bm_dir {
	BM_DIR_TO_POD = 0,   /* tc egress of the host-side interface */
	BM_DIR_FROM_POD = 1, /* tc ingress of the host-side interface */
};

/* Configuration flags (struct bm_config.flags). */
#define BM_CFG_TUN_HANDOFF (1u << 0) /* hand off by redirect to handoff_ifindex, not ringbuf */

/* Read-only configuration, set in .rodata before the object is loaded. */
struct bm_config {
	__u32 flags;		   /* host, BM_CFG_* */
	__u32 handoff_ifindex;	   /* host, tun device for BM_CFG_TUN_HANDOFF */
	__u32 mirror_wakeup_bytes; /* host; 0: every record may wake the reader; else
				    * mirrored records wake it only once this many
				    * bytes wait (the reader polls on a timer too) */
	__u32 pad;		   /* zero */
};

/*
 * Key of the node-address map: sources whose SYNs are never stolen (kubelet
 * probes come from the node's address toward the pod). A map rather than
 * rodata because the right address (the route's preferred source toward a
 * pod) is only known when a pod is attached.
 */
struct bm_addr_key {
	__u8 family;	/* BM_AF_INET / BM_AF_INET6 */
	__u8 pad[3];	/* zero */
	__be32 addr[4]; /* be; IPv4 in addr[0], addr[1..3] zero */
};

/* Key of the subscription and reserved-port maps: (pod address, port). */
struct bm_port_key {
	__u8 family;	/* BM_AF_INET / BM_AF_INET6 */
	__u8 pad;	/* zero */
	__be16 port;	/* be, the pod's (destination) port */
	__be32 addr[4]; /* be, pod address; IPv4 in addr[0], addr[1..3] zero */
};

/* Subscription of one (pod address, TCP port). Session ids are nonzero. */
struct bm_sub {
	__u32 mirror[BM_MAX_SESSIONS]; /* host, mirror session ids; 0 = free slot */
	__u32 steal;		       /* host, stealing session id; 0 = none */
	__u32 router_ifindex;	       /* host; nonzero: new connections go to the agent's
					* L7 router through this link (filtered steal) */
};

/* Entries of the reserved-port map: every (pod address, port) any session holds. */
#define BM_RESERVED_MAX 65536

/* Value of the reserved-port map: the twin session owning the port. */
struct bm_reserved {
	__u32 session; /* host */
	__u32 pad;     /* zero */
};

/* Key of the flow table, oriented client -> pod (as seen going to the pod). */
struct bm_flow_key {
	__u8 family;	 /* BM_AF_INET / BM_AF_INET6 */
	__u8 proto;	 /* IPPROTO_TCP */
	__u16 pad;	 /* zero */
	__be16 sport;	 /* be, client port */
	__be16 dport;	 /* be, pod port */
	__be32 saddr[4]; /* be, client address */
	__be32 daddr[4]; /* be, pod address */
};

/* Value of the flow table. */
struct bm_flow {
	__u32 sessions[BM_MAX_SESSIONS]; /* host; steal: sessions[0]; 0 = free slot */
	__u8 verdict;			 /* enum bm_verdict */
	__u8 pad[3];			 /* zero */
	__u32 ifindex;			 /* host, BM_V_ROUTE: the router link */
	__u64 packets;			 /* host, packets handed off */
	__u64 bytes;			 /* host, bytes handed off (L3 length) */
};

/* One counter of the per-CPU stats array (index = enum bm_reason). */
struct bm_stat {
	__u64 packets; /* host */
	__u64 bytes;   /* host, L2 length (skb->len) */
};

/* Record flags (struct bm_pkt_hdr.flags). */
#define BM_PKT_F_TRUNCATED (1u << 0) /* cap_len < pkt_len */

/*
 * Header of a ring-buffer record, followed by cap_len bytes of the packet
 * starting at its IP header. Packets may be GSO super-packets (gso_segs > 1)
 * and their L4 checksum may be partial (not yet computed by the NIC path):
 * consumers recompute checksums before re-injecting.
 */
struct bm_pkt_hdr {
	__u64 tstamp_ns;		 /* host, bpf_ktime_get_ns() */
	__u32 sessions[BM_MAX_SESSIONS]; /* host, sessions owning the packet; 0 = unused */
	__u32 ifindex;			 /* host, interface the program ran on */
	__u32 pkt_len;			 /* host, L3 length of the packet */
	__u32 cap_len;			 /* host, bytes that follow this header */
	__u8 reason;			 /* enum bm_reason: MIRRORED, STOLEN or RETURNED */
	__u8 dir;			 /* enum bm_dir */
	__u8 family;			 /* BM_AF_INET / BM_AF_INET6 */
	__u8 flags;			 /* BM_PKT_F_* */
	__u16 gso_size;			 /* host, MSS of a GSO packet, else 0 */
	__u16 gso_segs;			 /* host, segments of a GSO packet, else 0 or 1 */
	__u32 pad;			 /* zero */
};

#if !defined(__bpf__) && !defined(__BPF__)
_Static_assert(sizeof(struct bm_config) == 16, "bm_config ABI");
_Static_assert(sizeof(struct bm_addr_key) == 20, "bm_addr_key ABI");
_Static_assert(sizeof(struct bm_port_key) == 20, "bm_port_key ABI");
_Static_assert(sizeof(struct bm_sub) == 24, "bm_sub ABI");
_Static_assert(sizeof(struct bm_reserved) == 8, "bm_reserved ABI");
_Static_assert(sizeof(struct bm_flow_key) == 40, "bm_flow_key ABI");
_Static_assert(sizeof(struct bm_flow) == 40, "bm_flow ABI");
_Static_assert(sizeof(struct bm_stat) == 16, "bm_stat ABI");
_Static_assert(sizeof(struct bm_pkt_hdr) == 48, "bm_pkt_hdr ABI");
#endif

#endif
