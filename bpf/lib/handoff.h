/* Hands packets to the agent: ring-buffer records (default) or redirect to a tun device. */
#ifndef BPFMIRROR_BPF_HANDOFF_H
#define BPFMIRROR_BPF_HANDOFF_H

#include "bpfmirror_abi.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/stats.h"

const volatile struct bm_config bm_cfg = {};

/*
 * Set by the agent (mmapped .bss): 1 while it drains the ring on a 2 ms
 * timer anyway (traffic is flowing), 0 when it sleeps until woken.
 */
volatile __u32 bm_reader_polling = 0;

/*
 * Ring-buffer wakeup policy. By default libbpf's adaptive mode wakes the
 * reader whenever it has caught up, i.e. about once per packet at moderate
 * rates (measured: no better than a tun, see docs/design-datapath.md). With
 * mirror_wakeup_bytes set, a mirror copy wakes the reader only if it is not
 * polling on its timer or this many bytes wait. Steal/return records always
 * wake it: someone waits for them.
 */
static __always_inline __u64 bm_rb_flags(__u8 reason)
{
	if (!bm_cfg.mirror_wakeup_bytes)
		return 0;
	if (reason != BM_R_MIRRORED || !bm_reader_polling)
		return BPF_RB_FORCE_WAKEUP;
	if (bpf_ringbuf_query(&bm_events, BPF_RB_AVAIL_DATA) >= bm_cfg.mirror_wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/* Copies the packet from its IP header into one ring-buffer record.
 * Returns 0 or a negative value when the record could not be written. */
static __always_inline int bm_ringbuf_copy(struct __sk_buff *skb, const struct bm_pkt *p,
					   const __u32 *sessions, __u8 reason, __u8 dir)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct bm_scratch *s = bpf_map_lookup_elem(&bm_scratch, &cpu);
	__u64 len = p->l3_len;
	__u8 flags = 0;

	if (!s)
		return -1;
	if (len > BM_CAP_MAX) {
		len = BM_CAP_MAX;
		flags |= BM_PKT_F_TRUNCATED;
		bm_count(BM_R_TRUNCATED, skb->len);
	}
	/* The verifier needs the length bounded in [1, sizeof(data)] in the very
	 * register passed to the helper; the barrier stops clang from checking a
	 * zero-extended copy and passing the unchecked original. */
	asm volatile("" : "+r"(len));
	if (len < 1 || len > BM_CAP_MAX)
		return -1;
	if (bpf_skb_load_bytes(skb, p->l3_off, s->data, len))
		return -1;
	s->hdr.tstamp_ns = bpf_ktime_get_ns();
	for (int i = 0; i < BM_MAX_SESSIONS; i++)
		s->hdr.sessions[i] = sessions[i];
	s->hdr.ifindex = skb->ifindex;
	s->hdr.pkt_len = p->l3_len;
	s->hdr.cap_len = (__u32)len;
	s->hdr.reason = reason;
	s->hdr.dir = dir;
	s->hdr.family = p->family;
	s->hdr.flags = flags;
	s->hdr.gso_size = skb->gso_size;
	s->hdr.gso_segs = skb->gso_segs;
	s->hdr.pad = 0;
	return bpf_ringbuf_output(&bm_events, s, sizeof(s->hdr) + len, bm_rb_flags(reason));
}

/* Mirror: copy to the agent, original continues. */
static __always_inline int bm_mirror(struct __sk_buff *skb, const struct bm_pkt *p,
				     const __u32 *sessions, __u8 dir)
{
	int err;

	if (bm_cfg.flags & BM_CFG_TUN_HANDOFF)
		err = bpf_clone_redirect(skb, bm_cfg.handoff_ifindex, 0);
	else
		err = bm_ringbuf_copy(skb, p, sessions, BM_R_MIRRORED, dir);
	bm_count(err ? BM_R_HANDOFF_FAILED : BM_R_MIRRORED, skb->len);
	return BM_ACT_NEXT;
}

/* Steal / return path: the agent gets the packet, the pod does not. */
static __always_inline int bm_take(struct __sk_buff *skb, const struct bm_pkt *p,
				   const __u32 *sessions, __u8 reason, __u8 dir)
{
	if (bm_cfg.flags & BM_CFG_TUN_HANDOFF) {
		bm_count(reason, skb->len);
		return bpf_redirect(bm_cfg.handoff_ifindex, 0);
	}
	if (bm_ringbuf_copy(skb, p, sessions, reason, dir))
		reason = BM_R_HANDOFF_FAILED;
	bm_count(reason, skb->len);
	return BM_ACT_DROP;
}

/*
 * Filtered steal: hands the packet to the agent's router namespace through
 * the egress of its veth. The destination MAC becomes the router peer's,
 * else the peer would see PACKET_OTHERHOST and IP would drop the packet.
 */
static __always_inline int bm_route(struct __sk_buff *skb, __u32 ifindex)
{
	const __u8 mac[6] = BM_ROUTER_MAC;

	if (bpf_skb_store_bytes(skb, 0, mac, sizeof(mac), 0)) {
		bm_count(BM_R_HANDOFF_FAILED, skb->len);
		return BM_ACT_DROP;
	}
	bm_count(BM_R_ROUTED, skb->len);
	return bpf_redirect(ifindex, 0);
}

#endif
