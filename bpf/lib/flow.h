/* Flow table logic: a client's SYN decides a connection's verdict from the subscriptions. */
#ifndef BPFMIRROR_BPF_FLOW_H
#define BPFMIRROR_BPF_FLOW_H

#include "bpfmirror_abi.h"
#include "lib/handoff.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/stats.h"

/* Key of the flow a packet going to the pod belongs to. */
static __always_inline void bm_flow_key_to_pod(const struct bm_pkt *p, struct bm_flow_key *k)
{
	k->family = p->family;
	k->proto = p->proto;
	k->sport = p->sport;
	k->dport = p->dport;
	__builtin_memcpy(k->saddr, p->saddr, 16);
	__builtin_memcpy(k->daddr, p->daddr, 16);
}

/* Key of the flow a packet coming from the pod belongs to (reversed tuple). */
static __always_inline void bm_flow_key_from_pod(const struct bm_pkt *p, struct bm_flow_key *k)
{
	k->family = p->family;
	k->proto = p->proto;
	k->sport = p->dport;
	k->dport = p->sport;
	__builtin_memcpy(k->saddr, p->daddr, 16);
	__builtin_memcpy(k->daddr, p->saddr, 16);
}

/* (pod address, pod port) of a packet going to the pod. */
static __always_inline void bm_port_key_to_pod(const struct bm_pkt *p, struct bm_port_key *k)
{
	k->family = p->family;
	k->port = p->dport;
	__builtin_memcpy(k->addr, p->daddr, 16);
}

/* True when the packet's source is one of the node's own addresses (kubelet probes). */
static __always_inline bool bm_from_node(const struct bm_pkt *p)
{
	struct bm_addr_key k = {};

	k.family = p->family;
	__builtin_memcpy(k.addr, p->saddr, 16);
	return bpf_map_lookup_elem(&bm_node_addrs, &k) != NULL;
}

/*
 * A client SYN (no ACK) toward the pod: (re)decides the flow's verdict.
 * A SYN that matches no subscription removes a stale entry of a reused tuple.
 * Returns the reason to count if the packet ends up passed (PASSED or PROBE).
 */
static __always_inline __u32 bm_flow_on_syn(const struct bm_pkt *p, const struct bm_flow_key *fk)
{
	struct bm_port_key pk = {};
	struct bm_flow f = {};
	struct bm_sub *sub;
	__u32 reason = BM_R_PASSED;
	int n = 0;

	bm_port_key_to_pod(p, &pk);
	sub = bpf_map_lookup_elem(&bm_subs, &pk);
	if (!sub) {
		bpf_map_delete_elem(&bm_flows, fk);
		return reason;
	}
	if (sub->steal && !bm_from_node(p)) {
		f.verdict = BM_V_STEAL;
		f.sessions[0] = sub->steal;
	} else if (sub->router_ifindex && !bm_from_node(p)) {
		/* The router's own connections to the app come from the node. */
		f.verdict = BM_V_ROUTE;
		f.ifindex = sub->router_ifindex;
	} else {
		if (sub->steal || sub->router_ifindex)
			reason = BM_R_PROBE;
		for (int i = 0; i < BM_MAX_SESSIONS; i++) {
			f.sessions[i] = sub->mirror[i];
			n += sub->mirror[i] != 0;
		}
		if (!n) {
			bpf_map_delete_elem(&bm_flows, fk);
			return reason;
		}
		f.verdict = BM_V_MIRROR;
	}
	if (bpf_map_update_elem(&bm_flows, fk, &f, BPF_ANY))
		bm_count(BM_R_FLOW_TABLE_FULL, 0);
	return reason;
}

#endif
