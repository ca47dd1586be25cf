/* Parses Ethernet + IPv4/IPv6 + TCP/UDP headers of an skb into a struct bm_pkt. */
#ifndef BPFMIRROR_BPF_PARSE_H
#define BPFMIRROR_BPF_PARSE_H

#include "bpfmirror_abi.h"
#include "lib/net.h"

/* What the verdict logic needs to know about one packet; addresses and ports be. */
struct bm_pkt {
	__be32 saddr[4];
	__be32 daddr[4];
	__be16 sport;
	__be16 dport;
	__u32 l3_off;	   /* offset of the IP header */
	__u32 l3_len;	   /* skb->len - l3_off */
	__u32 payload_len; /* L4 payload bytes per the IP header (GSO: all segments) */
	__u8 family;	   /* BM_AF_INET / BM_AF_INET6 */
	__u8 proto;	   /* BM_IPPROTO_TCP / BM_IPPROTO_UDP */
	__u8 tcp_flags;	   /* TCP only */
};

/* Headers are copied with bpf_skb_load_bytes() rather than read in place:
 * it works on non-linear skbs (GSO packets from veth) without a pull. */
static __always_inline int bm_parse_l4(struct __sk_buff *skb, struct bm_pkt *p, __u32 l4_off,
				       __u32 l4_total)
{
	if (p->proto == BM_IPPROTO_TCP) {
		struct bm_tcp_head th;
		__u32 doff;

		if (bpf_skb_load_bytes(skb, l4_off, &th, sizeof(th)))
			return BM_R_SHORT;
		doff = (__u32)(th.doff_res >> 4) * 4;
		if (doff < 20 || doff > l4_total)
			return BM_R_SHORT;
		p->sport = th.source;
		p->dport = th.dest;
		p->tcp_flags = th.flags;
		p->payload_len = l4_total - doff;
		return BM_R_PASSED;
	}
	if (p->proto == BM_IPPROTO_UDP) {
		struct bm_udp_head uh;

		if (bpf_skb_load_bytes(skb, l4_off, &uh, sizeof(uh)) || l4_total < sizeof(uh))
			return BM_R_SHORT;
		p->sport = uh.source;
		p->dport = uh.dest;
		p->payload_len = l4_total - sizeof(uh);
		return BM_R_PASSED;
	}
	return BM_R_NOT_L4;
}

static __always_inline int bm_parse_ip4(struct __sk_buff *skb, struct bm_pkt *p)
{
	struct iphdr ip;
	__u32 ihl, tot;

	if (bpf_skb_load_bytes(skb, p->l3_off, &ip, sizeof(ip)))
		return BM_R_SHORT;
	ihl = (__u32)ip.ihl * 4;
	if (ip.version != 4 || ihl < sizeof(ip))
		return BM_R_SHORT;
	tot = bpf_ntohs(ip.tot_len);
	if (tot == 0) /* BIG TCP GSO packets leave tot_len at 0 */
		tot = p->l3_len;
	if (tot < ihl || tot > p->l3_len)
		return BM_R_SHORT;
	if (ip.frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return BM_R_FRAGMENT;
	p->family = BM_AF_INET;
	p->proto = ip.protocol;
	p->saddr[0] = ip.saddr;
	p->daddr[0] = ip.daddr;
	if (p->proto != BM_IPPROTO_TCP && p->proto != BM_IPPROTO_UDP)
		return BM_R_NOT_L4;
	return bm_parse_l4(skb, p, p->l3_off + ihl, tot - ihl);
}

/* Extension headers are not walked: such packets are counted NOT_L4 and pass. */
static __always_inline int bm_parse_ip6(struct __sk_buff *skb, struct bm_pkt *p)
{
	struct ipv6hdr ip6;
	__u32 plen;

	if (bpf_skb_load_bytes(skb, p->l3_off, &ip6, sizeof(ip6)))
		return BM_R_SHORT;
	if (ip6.version != 6)
		return BM_R_SHORT;
	plen = bpf_ntohs(ip6.payload_len);
	if (plen == 0) /* BIG TCP / jumbogram */
		plen = p->l3_len - sizeof(ip6);
	if (plen + sizeof(ip6) > p->l3_len)
		return BM_R_SHORT;
	p->family = BM_AF_INET6;
	p->proto = ip6.nexthdr;
	__builtin_memcpy(p->saddr, &ip6.saddr, 16);
	__builtin_memcpy(p->daddr, &ip6.daddr, 16);
	if (p->proto != BM_IPPROTO_TCP && p->proto != BM_IPPROTO_UDP)
		return BM_R_NOT_L4;
	return bm_parse_l4(skb, p, p->l3_off + sizeof(ip6), plen);
}

/* Returns BM_R_PASSED when *p is filled, else the reason to pass the packet. */
static __always_inline int bm_parse(struct __sk_buff *skb, struct bm_pkt *p)
{
	__be16 proto;

	if (skb->len < ETH_HLEN)
		return BM_R_SHORT;
	if (bpf_skb_load_bytes(skb, 12, &proto, sizeof(proto)))
		return BM_R_SHORT;
	p->l3_off = ETH_HLEN;
	p->l3_len = skb->len - ETH_HLEN;
	if (proto == bpf_htons(ETH_P_IP))
		return bm_parse_ip4(skb, p);
	if (proto == bpf_htons(ETH_P_IPV6))
		return bm_parse_ip6(skb, p);
	return BM_R_NOT_IP;
}

#endif
