/* Filtered steal, transparent upstream: the router's connections to the pod and their replies. */
#ifndef BPFMIRROR_BPF_PASSTHRU_H
#define BPFMIRROR_BPF_PASSTHRU_H

/*
 * The L7 router connects to the pod from the client's own address and port
 * (an IP_TRANSPARENT socket in the steer namespace), so the app sees the
 * real caller. That connection has the very tuple of the client's routed
 * flow (BM_V_ROUTE, ifindex = the router link bpfmr0), which the pod never
 * saw. The three hooks (docs/design-router.md, "Transparent upstream"):
 *
 *   bm_from_router (tc ingress of bpfmr0, node side): the router's packets
 *     toward the pod skip the node's stack (its conntrack already tracks the
 *     client's flow with this tuple and would call them invalid) and are
 *     redirected to the pod's host-side link. A pure SYN (the steer
 *     namespace only sends those when it connects upstream) (re)creates the
 *     flow entry, so a fallback port other than the client's works too.
 *   bm_to_pod: a packet of a routed flow that came in on the router link is
 *     the router's own: delivered to the pod, not routed back.
 *   bm_from_pod: whatever the pod sends on a routed flow answers the router:
 *     redirected to the router link, like the client's packets.
 */
#include "bpfmirror_abi.h"
#include "lib/flow.h"
#include "lib/handoff.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/stats.h"

#define BM_AF_INET_KERNEL 2 /* AF_INET for bpf_fib_lookup */

/* True when a routed flow's packet came from the router link: the router's upstream. */
static __always_inline bool bm_passthru_is_upstream(const struct __sk_buff *skb,
						    const struct bm_flow *flow)
{
	return flow->verdict == BM_V_ROUTE && flow->ifindex &&
	       skb->ingress_ifindex == flow->ifindex;
}

/* A pure SYN toward the pod: true if it is the router's (its flow names the link it came in on). */
static __always_inline bool bm_passthru_syn(const struct __sk_buff *skb,
					    const struct bm_flow_key *fk)
{
	struct bm_flow *flow = bpf_map_lookup_elem(&bm_flows, fk);

	return flow && bm_passthru_is_upstream(skb, flow);
}

/* bm_to_pod, routed flow from the router link: to the pod. */
static __always_inline int bm_passthru_deliver(struct __sk_buff *skb)
{
	bm_count(BM_R_ROUTER_UPSTREAM, skb->len);
	return BM_ACT_NEXT;
}

/* bm_from_pod, routed flow: the pod answers the router's upstream connection. */
static __always_inline int bm_passthru_reply(struct __sk_buff *skb, const struct bm_flow *flow)
{
	const __u8 mac[6] = BM_ROUTER_MAC;

	if (bpf_skb_store_bytes(skb, 0, mac, sizeof(mac), 0)) {
		bm_count(BM_R_HANDOFF_FAILED, skb->len);
		return BM_ACT_DROP;
	}
	bm_count(BM_R_ROUTER_REPLY, skb->len);
	return bpf_redirect(flow->ifindex, 0);
}

/* The router's SYN: its flow is routed through the link it came in on. */
static __always_inline void bm_passthru_track(struct __sk_buff *skb, const struct bm_flow_key *fk)
{
	struct bm_flow *old = bpf_map_lookup_elem(&bm_flows, fk);
	struct bm_flow f = {};

	if (old && old->verdict == BM_V_ROUTE && old->ifindex == skb->ifindex)
		return;
	f.verdict = BM_V_ROUTE;
	f.ifindex = skb->ifindex;
	if (bpf_map_update_elem(&bm_flows, fk, &f, BPF_ANY))
		bm_count(BM_R_FLOW_TABLE_FULL, 0);
}

/* Sends the router's packet to the pod's host-side link, found by the node's FIB. */
static __always_inline int bm_passthru_forward(struct __sk_buff *skb, const struct bm_pkt *p)
{
	struct bpf_fib_lookup fib = {};
	long rc;

	fib.family = BM_AF_INET_KERNEL;
	fib.l4_protocol = p->proto;
	fib.sport = p->sport;
	fib.dport = p->dport;
	fib.tot_len = (__u16)p->l3_len;
	fib.ipv4_src = p->saddr[0];
	fib.ipv4_dst = p->daddr[0];
	fib.ifindex = skb->ifindex;
	rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	if (rc == BPF_FIB_LKUP_RET_SUCCESS) {
		if (bpf_skb_store_bytes(skb, 0, fib.dmac, 6, 0) ||
		    bpf_skb_store_bytes(skb, 6, fib.smac, 6, 0))
			goto fail;
		bm_count(BM_R_ROUTER_UPSTREAM, skb->len);
		return bpf_redirect(fib.ifindex, 0);
	}
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
		bm_count(BM_R_ROUTER_UPSTREAM, skb->len);
		return bpf_redirect_neigh(fib.ifindex, NULL, 0, 0);
	}
fail:
	/* Left to the node's stack: better a slow path than a silent drop. */
	bm_count(BM_R_HANDOFF_FAILED, skb->len);
	return BM_ACT_NEXT;
}

/*
 * tc ingress of the router link: the router's packets toward a pod (its
 * flow is routed through this link) go straight to the pod; everything
 * else (the router's answers to clients) takes the node's normal path.
 */
static __always_inline int bm_passthru_from_router(struct __sk_buff *skb)
{
	struct bm_flow_key fk = {};
	struct bm_flow *flow;
	struct bm_pkt p = {};

	if (bm_parse(skb, &p) != BM_R_PASSED || p.proto != BM_IPPROTO_TCP || p.family != BM_AF_INET)
		return BM_ACT_NEXT;
	bm_flow_key_to_pod(&p, &fk);
	if ((p.tcp_flags & (BM_TCP_SYN | BM_TCP_ACK)) == BM_TCP_SYN)
		bm_passthru_track(skb, &fk);
	flow = bpf_map_lookup_elem(&bm_flows, &fk);
	if (!flow || flow->verdict != BM_V_ROUTE || flow->ifindex != skb->ifindex)
		return BM_ACT_NEXT;
	return bm_passthru_forward(skb, &p);
}

#endif
