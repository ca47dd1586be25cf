/* Attaches a tc program to one direction of a link: tcx link, or clsact filter fallback. */
#ifndef BPFMIRROR_TCX_H
#define BPFMIRROR_TCX_H

#include <stdbool.h>
#include <stdint.h>

enum tcx_dir {
	TCX_DIR_INGRESS = 0,
	TCX_DIR_EGRESS = 1,
};

/* One attachment; link_fd >= 0 for tcx (closing it detaches). */
struct tcx_att {
	int ifindex;
	enum tcx_dir dir;
	int link_fd;
	bool clsact;
	uint32_t handle;
	uint32_t prio;
};

/*
 * Attaches prog_fd with a tcx link unless force_clsact; falls back to a clsact
 * filter (handle/prio given, replacing an existing one) when the kernel has
 * no tcx (EINVAL/EOPNOTSUPP). Returns 0 or -errno.
 */
int tcx_attach(int prog_fd, int ifindex, enum tcx_dir dir, bool force_clsact, uint32_t handle,
	       uint32_t prio, struct tcx_att *out);
/* Detaches; idempotent; a link that is already gone is not an error. */
int tcx_detach(struct tcx_att *att);

/*
 * Removes the clsact filter (handle, prio) in dir of ifindex if its program
 * is named one of names (NULL-terminated). Returns 1 if removed, 0 if there
 * was none or it is not ours, or -errno.
 */
int tcx_remove_stale(int ifindex, enum tcx_dir dir, uint32_t handle, uint32_t prio,
		     const char *const *names);
/*
 * Counts the programs named one of names attached to ifindex (tcx links in
 * both directions, and the clsact filters (handle, prio)). For health checks
 * and tests: bpftool before 7.3 does not list tcx links. Returns the count
 * or -errno.
 */
int tcx_count_ours(int ifindex, uint32_t handle, uint32_t prio, const char *const *names);
/* tcx_remove_stale() on both directions of every link of this netns; returns
 * the number of filters removed or -errno. */
int tcx_remove_stale_all(uint32_t handle, uint32_t prio, const char *const *names);

#endif
