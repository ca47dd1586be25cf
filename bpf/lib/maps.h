/* Map definitions of the data plane; sizes userspace may change before load are noted. */
#ifndef BPFMIRROR_BPF_MAPS_H
#define BPFMIRROR_BPF_MAPS_H

#include "bpfmirror_abi.h"

/* Per-CPU copy area for the ring-buffer handoff (bpf_ringbuf_output needs a
 * source buffer and per-CPU arrays are limited to 32 KiB values, so this is a
 * plain array indexed by CPU; userspace sets max_entries to the CPU count). */
struct bm_scratch {
	struct bm_pkt_hdr hdr;
	__u8 data[BM_CAP_MAX + 1];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BM_R_MAX);
	__type(key, __u32);
	__type(value, struct bm_stat);
} bm_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct bm_port_key);
	__type(value, struct bm_sub);
} bm_subs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BM_RESERVED_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct bm_port_key);
	__type(value, struct bm_reserved);
} bm_reserved SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct bm_addr_key);
	__type(value, __u32);
} bm_node_addrs SEC(".maps");

/* max_entries: userspace may resize before load (datapath_opts.flow_table_size). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct bm_flow_key);
	__type(value, struct bm_flow);
} bm_flows SEC(".maps");

/* max_entries: userspace sets the size (datapath_opts.ring_bytes). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} bm_events SEC(".maps");

/* max_entries: userspace sets the number of possible CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bm_scratch);
} bm_scratch SEC(".maps");

#endif
