/* Picks the reserved port range of a twin session on a pod: clear of the pod's ports. */
#ifndef BPFMIRROR_PORTRANGE_H
#define BPFMIRROR_PORTRANGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct port_range {
	uint16_t lo; /* inclusive */
	uint16_t hi; /* inclusive */
};

/* A bitmap of the 65536 ports, set = in use by the pod or taken by a session. */
struct port_set {
	uint64_t bits[65536 / 64];
};

static inline void port_set_add(struct port_set *s, uint16_t p)
{
	s->bits[p / 64] |= 1ull << (p % 64);
}

static inline int port_set_has(const struct port_set *s, uint16_t p)
{
	return (s->bits[p / 64] >> (p % 64)) & 1;
}

void port_set_add_range(struct port_set *s, struct port_range r);

/*
 * Finds SIZE consecutive free ports in [1024, 65535], aligned to SIZE (a power
 * of two from 16 to 16384), preferring the highest block. Returns 0 and fills
 * *out, -EINVAL for a bad size, -ENOSPC when no block is free.
 */
int port_range_pick(const struct port_set *used, unsigned size, struct port_range *out);

/*
 * Adds the ports the process PID's network namespace uses: the local ports of
 * its TCP/UDP sockets (PROC/PID/net/{tcp,tcp6,udp,udp6}) and its ephemeral
 * range (ip_local_port_range of that namespace, read through setns in a child
 * process). Missing files are skipped; returns 0 or -errno.
 */
int port_set_add_pod(struct port_set *s, const char *proc_root, pid_t pid);

/* Parses one /proc/net/{tcp,udp}[6] table from a buffer into S. */
int port_set_parse_proc_net(struct port_set *s, const char *text);

#endif
