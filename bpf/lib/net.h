/* Protocol constants and header layouts the BPF data plane parses (no bitfields). */
#ifndef BPFMIRROR_BPF_NET_H
#define BPFMIRROR_BPF_NET_H

/* vmlinux.h carries types, not the #define constants of the UAPI headers. */
#define ETH_HLEN       14
#define ETH_P_IP       0x0800
#define ETH_P_IPV6     0x86DD
#define IP_MF	       0x2000
#define IP_OFFSET      0x1FFF
#define BM_IPPROTO_TCP 6
#define BM_IPPROTO_UDP 17

#define BM_TCP_FIN 0x01
#define BM_TCP_SYN 0x02
#define BM_TCP_RST 0x04
#define BM_TCP_ACK 0x10

/*
 * Program return codes. tcx and clsact (direct-action) agree on the values:
 * -1 is TCX_NEXT / TC_ACT_UNSPEC ("continue with the next program, default
 * is to pass"), which keeps other programs on the link (a CNI's) in the chain;
 * 0 (TCX_PASS / TC_ACT_OK) would skip them, so the pass path never uses it.
 */
#define BM_ACT_NEXT	(-1)
#define BM_ACT_DROP	2
#define BM_ACT_REDIRECT 7

/* The first 14 bytes of a TCP header, read as bytes to avoid bitfields. */
struct bm_tcp_head {
	__be16 source;
	__be16 dest;
	__be32 seq;
	__be32 ack_seq;
	__u8 doff_res; /* data offset in the high nibble */
	__u8 flags;    /* CWR ECE URG ACK PSH RST SYN FIN */
};

struct bm_udp_head {
	__be16 source;
	__be16 dest;
	__be16 len;
	__be16 check;
};

#endif
