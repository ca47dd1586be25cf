/* Attaches a tc program to one direction of a link: tcx link, or clsact filter fallback. */
#include "tcx.h"
#include "log.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <unistd.h>

/* Debian's UAPI headers (6.1) predate tcx (kernel 6.6): values of enum bpf_attach_type. */
#define BM_BPF_TCX_INGRESS 46
#define BM_BPF_TCX_EGRESS  47

static enum bpf_tc_attach_point clsact_point(enum tcx_dir dir)
{
	return dir == TCX_DIR_INGRESS ? BPF_TC_INGRESS : BPF_TC_EGRESS;
}

static int clsact_attach(int prog_fd, struct tcx_att *att)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = att->ifindex,
			    .attach_point = clsact_point(att->dir));
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd, .handle = att->handle,
			    .priority = att->prio, .flags = BPF_TC_F_REPLACE);
	int err;

	/* The qdisc is shared with other users and never removed by us. */
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	err = bpf_tc_attach(&hook, &opts);
	if (err)
		return err;
	att->clsact = true;
	return 0;
}

int tcx_attach(int prog_fd, int ifindex, enum tcx_dir dir, bool force_clsact, uint32_t handle,
	       uint32_t prio, struct tcx_att *out)
{
	int fd, err;

	memset(out, 0, sizeof(*out));
	out->ifindex = ifindex;
	out->dir = dir;
	out->link_fd = -1;
	out->handle = handle;
	out->prio = prio;
	if (!force_clsact) {
		/* NULL opts: appended after the link's existing tcx programs. */
		fd = bpf_link_create(
		    prog_fd, ifindex,
		    dir == TCX_DIR_INGRESS ? BM_BPF_TCX_INGRESS : BM_BPF_TCX_EGRESS, NULL);
		if (fd >= 0) {
			out->link_fd = fd;
			return 0;
		}
		err = fd;
		if (err != -EINVAL && err != -EOPNOTSUPP && err != -524 /* ENOTSUPP */)
			return err;
		log_info("tcx: not available on ifindex %d (%s), using clsact", ifindex,
			 strerror(-err));
	}
	return clsact_attach(prog_fd, out);
}

int tcx_detach(struct tcx_att *att)
{
	int err = 0;

	if (att->link_fd >= 0) {
		close(att->link_fd);
		att->link_fd = -1;
	}
	if (att->clsact) {
		DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = att->ifindex,
				    .attach_point = clsact_point(att->dir));
		DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = att->handle,
				    .priority = att->prio);

		err = bpf_tc_detach(&hook, &opts);
		/* The link or its qdisc may already be gone (pod deleted). */
		if (err == -ENOENT || err == -ENODEV || err == -EINVAL)
			err = 0;
		att->clsact = false;
	}
	return err;
}

static bool prog_named(uint32_t prog_id, const char *const *names)
{
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);
	bool match = false;
	int fd;

	fd = bpf_prog_get_fd_by_id(prog_id);
	if (fd < 0)
		return false;
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
		for (int i = 0; names[i]; i++)
			if (strncmp(info.name, names[i], sizeof(info.name)) == 0)
				match = true;
	}
	close(fd);
	return match;
}

int tcx_remove_stale(int ifindex, enum tcx_dir dir, uint32_t handle, uint32_t prio,
		     const char *const *names)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = clsact_point(dir));
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = handle, .priority = prio);
	int err;

	err = bpf_tc_query(&hook, &opts);
	if (err)
		return (err == -ENOENT || err == -EINVAL) ? 0 : err;
	if (!prog_named(opts.prog_id, names))
		return 0;
	/* bpf_tc_detach wants prog_id/prog_fd/flags cleared. */
	opts.prog_id = 0;
	opts.prog_fd = 0;
	opts.flags = 0;
	err = bpf_tc_detach(&hook, &opts);
	if (err)
		return err;
	log_info("tcx: removed stale clsact filter on ifindex %d (%s)", ifindex,
		 dir == TCX_DIR_INGRESS ? "ingress" : "egress");
	return 1;
}

int tcx_count_ours(int ifindex, uint32_t handle, uint32_t prio, const char *const *names)
{
	static const int tcx_types[] = {BM_BPF_TCX_INGRESS, BM_BPF_TCX_EGRESS};
	uint32_t ids[64], cnt;
	libbpf_print_fn_t old;
	int n = 0;

	/* Queries on links without clsact make libbpf log kernel errors: expected. */
	old = libbpf_set_print(NULL);
	for (int d = 0; d < 2; d++) {
		DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
				    .attach_point = clsact_point((enum tcx_dir)d));
		DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = handle, .priority = prio);

		cnt = sizeof(ids) / sizeof(ids[0]);
		/* For tcx the query's target is the ifindex. */
		if (bpf_prog_query(ifindex, (enum bpf_attach_type)tcx_types[d], 0, NULL, ids,
				   &cnt) == 0) {
			for (uint32_t i = 0; i < cnt; i++)
				n += prog_named(ids[i], names);
		}
		if (bpf_tc_query(&hook, &opts) == 0)
			n += prog_named(opts.prog_id, names);
	}
	libbpf_set_print(old);
	return n;
}

int tcx_remove_stale_all(uint32_t handle, uint32_t prio, const char *const *names)
{
	struct if_nameindex *ifs, *i;
	libbpf_print_fn_t old;
	int removed = 0, err;

	ifs = if_nameindex();
	if (!ifs)
		return -errno;
	/* Links without a clsact qdisc make libbpf log kernel errors: expected here. */
	old = libbpf_set_print(NULL);
	for (i = ifs; i->if_index; i++) {
		for (int d = TCX_DIR_INGRESS; d <= TCX_DIR_EGRESS; d++) {
			err = tcx_remove_stale((int)i->if_index, d, handle, prio, names);
			if (err > 0)
				removed += err;
		}
	}
	libbpf_set_print(old);
	if_freenameindex(ifs);
	return removed;
}
