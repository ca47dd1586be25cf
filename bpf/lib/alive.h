/* Fail open: the programs step aside when the agent's heartbeat stops (agent dead or stuck). */
#ifndef BPFMIRROR_BPF_ALIVE_H
#define BPFMIRROR_BPF_ALIVE_H

#include "bpfmirror_abi.h"
#include "lib/net.h"
#include "lib/stats.h"

/*
 * Written by the agent (mmapped .bss) every DATAPATH_HEARTBEAT_MS with
 * CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns(). A clsact filter outlives
 * the agent, so without this a dead agent's steal would drop, and its route
 * redirect to a veth that is gone, until a new agent removes the filters.
 */
volatile __u64 bm_agent_heartbeat_ns = 0;

/* True when the heartbeat is older than BM_HEARTBEAT_STALE_NS (or was never written). */
static __always_inline bool bm_agent_gone(void)
{
	__u64 hb = bm_agent_heartbeat_ns;

	/* Signed: a beat written on another CPU a moment "after" now is fresh. */
	return hb == 0 || (__s64)(bpf_ktime_get_ns() - hb) > (__s64)BM_HEARTBEAT_STALE_NS;
}

/*
 * The agent is gone: pass untouched and count. The pass code (not TC_ACT_OK)
 * keeps later programs on the link, a CNI's, in the chain.
 */
static __always_inline int bm_fail_open(struct __sk_buff *skb)
{
	bm_count(BM_R_FAIL_OPEN, skb->len);
	return BM_ACT_NEXT;
}

#endif
