// SPDX-License-Identifier: GPL-2.0
/* tc/tcx programs on a pod's host-side link: mirror, steal and return-path verdicts. */
#include "vmlinux.h"

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "bpfmirror_abi.h"
#include "lib/alive.h"
#include "lib/flow.h"
#include "lib/handoff.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/passthru.h"
#include "lib/stats.h"

char LICENSE[] SEC("license") = "GPL";

/* tc egress of the host-side link: packets going INTO the pod. */
SEC("tc")
int bm_to_pod(struct __sk_buff *skb)
{
	struct bm_flow_key fk = {};
	struct bm_port_key pk = {};
	struct bm_reserved *res;
	struct bm_flow *flow;
	struct bm_pkt p = {};
	__u32 reason;

	if (bm_agent_gone())
		return bm_fail_open(skb);
	reason = bm_parse(skb, &p);
	if (reason != BM_R_PASSED)
		goto pass;

	/* Replies to a twin's outgoing traffic, TCP or UDP. */
	bm_port_key_to_pod(&p, &pk);
	res = bpf_map_lookup_elem(&bm_reserved, &pk);
	if (res) {
		__u32 sessions[BM_MAX_SESSIONS] = {res->session};

		return bm_take(skb, &p, sessions, BM_R_RETURNED, BM_DIR_TO_POD);
	}
	if (p.proto != BM_IPPROTO_TCP)
		goto pass;

	bm_flow_key_to_pod(&p, &fk);
	/* The router's SYN must not re-decide the flow it shares with the client. */
	if ((p.tcp_flags & (BM_TCP_SYN | BM_TCP_ACK)) == BM_TCP_SYN && !bm_passthru_syn(skb, &fk))
		reason = bm_flow_on_syn(&p, &fk);
	flow = bpf_map_lookup_elem(&bm_flows, &fk);
	if (!flow)
		goto pass;

	__sync_fetch_and_add(&flow->packets, 1);
	__sync_fetch_and_add(&flow->bytes, p.l3_len);
	if (flow->verdict == BM_V_STEAL)
		return bm_take(skb, &p, flow->sessions, BM_R_STOLEN, BM_DIR_TO_POD);
	if (flow->verdict == BM_V_ROUTE)
		return bm_passthru_is_upstream(skb, flow) ? bm_passthru_deliver(skb)
							  : bm_route(skb, flow->ifindex);
	if (flow->verdict != BM_V_MIRROR)
		goto pass;
	/* Pure ACKs carry nothing the replay needs: skip the copy. */
	if (p.payload_len == 0 && !(p.tcp_flags & (BM_TCP_SYN | BM_TCP_FIN | BM_TCP_RST))) {
		reason = BM_R_MIRROR_ACK;
		goto pass;
	}
	return bm_mirror(skb, &p, flow->sessions, BM_DIR_TO_POD);
pass:
	bm_count(reason, skb->len);
	return BM_ACT_NEXT;
}

/* tc ingress of the host-side link: packets coming FROM the pod. */
SEC("tc")
int bm_from_pod(struct __sk_buff *skb)
{
	struct bm_flow_key fk = {};
	struct bm_flow *flow;
	struct bm_pkt p = {};
	__u32 reason;

	if (bm_agent_gone())
		return bm_fail_open(skb);
	reason = bm_parse(skb, &p);
	if (reason != BM_R_PASSED || p.proto != BM_IPPROTO_TCP)
		goto pass;
	bm_flow_key_from_pod(&p, &fk);
	flow = bpf_map_lookup_elem(&bm_flows, &fk);
	/* On a routed flow the pod talks to the router's transparent upstream. */
	if (flow && flow->verdict == BM_V_ROUTE)
		return bm_passthru_reply(skb, flow);
	/* The pod never saw a stolen flow's SYN; anything it sends on one is stray. */
	if (flow && flow->verdict == BM_V_STEAL) {
		bm_count(BM_R_STEAL_FROM_POD, skb->len);
		return BM_ACT_DROP;
	}
pass:
	bm_count(reason, skb->len);
	return BM_ACT_NEXT;
}

/* tc ingress of the router link (bpfmr0, node side): the router's upstream packets to the pod. */
SEC("tc")
int bm_from_router(struct __sk_buff *skb)
{
	return bm_passthru_from_router(skb);
}
