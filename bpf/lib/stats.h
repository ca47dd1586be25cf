/* Per-CPU packet/byte counters by reason (the data path's only diagnostics). */
#ifndef BPFMIRROR_BPF_STATS_H
#define BPFMIRROR_BPF_STATS_H

#include "lib/maps.h"

static __always_inline void bm_count(__u32 reason, __u32 bytes)
{
	struct bm_stat *s = bpf_map_lookup_elem(&bm_stats, &reason);

	if (s) {
		s->packets++;
		s->bytes += bytes;
	}
}

#endif
