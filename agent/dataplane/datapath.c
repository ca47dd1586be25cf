/* The agent's eBPF data plane: load, attach to pods, subscribe, receive and inject packets. */
#include "datapath.h"
#include "datapath_int.h"
#include "log.h"
#include "tcx.h"
#include "tun.h"
#include "tc_pod.skel.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* 2 MiB: ~0.2 s of a 10 Gbit/s burst of copies between 2 ms drains, and the
 * agent stays under 10 MiB resident (the ring is mapped twice). */
#define DEFAULT_RING_BYTES (2u << 20)
#define DEFAULT_FLOWS	   65536u
#define TUN_READ_BUDGET	   256
#define TUN_BUF_SIZE	   65536
#define BATCH_IDLE_POLLS   50  /* empty 2 ms drains before going back to sleep */
#define BATCH_SLOW_POLL_MS 100 /* safety drain period while sleeping */

struct pod_link {
	int ifindex;
	int refs;
	struct tcx_att to_pod;	 /* egress */
	struct tcx_att from_pod; /* ingress */
};

struct datapath {
	struct tc_pod *skel;
	struct ring_buffer *rb;
	int epfd;	/* datapath_fd(): ring buffer + batch timer */
	int timerfd;	/* batch drain timer, -1 when batching is off */
	int hbfd;	/* heartbeat timer (DATAPATH_HEARTBEAT_MS) */
	bool polling;	/* mirrors bss->bm_reader_polling */
	int idle_polls; /* consecutive empty drains while polling */
	struct tun_dev tun;
	bool has_tun;
	bool force_clsact;
	enum datapath_handoff handoff;
	int ncpus;
	struct pod_link *pods;
	size_t npods;
	struct tcx_att router; /* bm_from_router on the router link's ingress */
	bool has_router;
	/* state of the current datapath_poll() */
	datapath_pkt_cb cb;
	void *cb_ctx;
	uint8_t *tunbuf;
};

static const char *const prog_names[] = {"bm_to_pod", "bm_from_pod", "bm_from_router", NULL};

static const char *const reason_names[BM_R_MAX] = {
    [BM_R_PASSED] = "passed",
    [BM_R_MIRRORED] = "mirrored",
    [BM_R_STOLEN] = "stolen",
    [BM_R_ROUTED] = "routed",
    [BM_R_ROUTER_UPSTREAM] = "router_upstream",
    [BM_R_ROUTER_REPLY] = "router_reply",
    [BM_R_RETURNED] = "returned",
    [BM_R_MIRROR_ACK] = "mirror_ack_skipped",
    [BM_R_PROBE] = "probe_not_stolen",
    [BM_R_STEAL_FROM_POD] = "steal_from_pod_dropped",
    [BM_R_NOT_IP] = "not_ip",
    [BM_R_NOT_L4] = "not_tcp_udp",
    [BM_R_FRAGMENT] = "fragment",
    [BM_R_SHORT] = "short_or_malformed",
    [BM_R_HANDOFF_FAILED] = "handoff_failed",
    [BM_R_FLOW_TABLE_FULL] = "flow_table_full",
    [BM_R_TRUNCATED] = "truncated",
    [BM_R_FAIL_OPEN] = "fail_open_passed",
};

const char *datapath_reason_name(unsigned int reason)
{
	if (reason >= BM_R_MAX || !reason_names[reason])
		return "unknown";
	return reason_names[reason];
}

int datapath_ip_parse(const char *s, struct datapath_ip *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, s, &out->u.v4) == 1) {
		out->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &out->u.v6) == 1) {
		out->family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

/* Copies an address into the ABI's (family, addr[4]) form. */
static int ip_to_abi(const struct datapath_ip *ip, __u8 *family, __be32 addr[4])
{
	memset(addr, 0, 16);
	if (ip->family == AF_INET) {
		*family = BM_AF_INET;
		memcpy(addr, &ip->u.v4, 4);
		return 0;
	}
	if (ip->family == AF_INET6) {
		*family = BM_AF_INET6;
		memcpy(addr, &ip->u.v6, 16);
		return 0;
	}
	return -EAFNOSUPPORT;
}

static int port_key(const struct datapath_ip *ip, uint16_t port, struct bm_port_key *k)
{
	memset(k, 0, sizeof(*k));
	k->port = htons(port);
	return ip_to_abi(ip, &k->family, k->addr);
}

static int map_fd(const struct bpf_map *m)
{
	return bpf_map__fd(m);
}

/* ring_buffer sample callback: one record = header + packet bytes. */
static int on_record(void *ctx, void *data, size_t size)
{
	struct datapath *dp = ctx;
	const struct bm_pkt_hdr *hdr = data;
	struct datapath_pkt pkt;

	if (size < sizeof(*hdr) || hdr->cap_len > size - sizeof(*hdr))
		return 0; /* cannot happen with our program; skip rather than stop */
	pkt.hdr = hdr;
	pkt.data = (const uint8_t *)data + sizeof(*hdr);
	pkt.len = hdr->cap_len;
	return dp->cb ? dp->cb(dp->cb_ctx, &pkt) : 0;
}

static int configure(struct datapath *dp, const struct datapath_opts *o)
{
	uint32_t ring = o->ring_bytes ? o->ring_bytes : DEFAULT_RING_BYTES;
	uint32_t flows = o->flow_table_size ? o->flow_table_size : DEFAULT_FLOWS;
	int err;

	if (dp->handoff == DATAPATH_HANDOFF_TUN) {
		dp->skel->rodata->bm_cfg.flags |= BM_CFG_TUN_HANDOFF;
		dp->skel->rodata->bm_cfg.handoff_ifindex = (__u32)dp->tun.ifindex;
	}
	dp->skel->rodata->bm_cfg.mirror_wakeup_bytes = o->mirror_batch_bytes;
	err = bpf_map__set_max_entries(dp->skel->maps.bm_scratch, (__u32)dp->ncpus);
	if (!err)
		err = bpf_map__set_max_entries(dp->skel->maps.bm_events, ring);
	if (!err)
		err = bpf_map__set_max_entries(dp->skel->maps.bm_flows, flows);
	return err;
}

/* Switches between "polling" (traffic flows: drain every
 * DATAPATH_BATCH_POLL_MS, mirror copies do not wake us) and "sleeping" (every
 * copy wakes us). The slow timer while sleeping bounds the delay of a copy
 * that raced with the switch (written as "polling", after the last drain). */
static void set_polling(struct datapath *dp, bool on)
{
	long ns = on ? DATAPATH_BATCH_POLL_MS * 1000000L : BATCH_SLOW_POLL_MS * 1000000L;
	struct itimerspec its = {.it_value.tv_nsec = ns, .it_interval.tv_nsec = ns};

	dp->polling = on;
	dp->idle_polls = 0;
	__atomic_store_n(&dp->skel->bss->bm_reader_polling, on ? 1u : 0u, __ATOMIC_SEQ_CST);
	if (timerfd_settime(dp->timerfd, 0, &its, NULL))
		log_warn("datapath: timerfd: %s", strerror(errno));
}

static void batch_timer(struct datapath *dp, int drained)
{
	uint64_t ticks;

	if (dp->timerfd < 0)
		return;
	if (read(dp->timerfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		log_debug("datapath: timerfd: %s", strerror(errno));
	if (drained > 0) {
		dp->idle_polls = 0;
		if (!dp->polling)
			set_polling(dp, true);
	} else if (dp->polling && ++dp->idle_polls >= BATCH_IDLE_POLLS) {
		set_polling(dp, false);
	}
}

void datapath_heartbeat_set(struct datapath *dp, uint64_t mono_ns)
{
	__atomic_store_n(&dp->skel->bss->bm_agent_heartbeat_ns, (__u64)mono_ns, __ATOMIC_SEQ_CST);
}

/* CLOCK_MONOTONIC is the clock of bpf_ktime_get_ns(). */
void datapath_heartbeat(struct datapath *dp)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	datapath_heartbeat_set(dp, (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec);
}

/* The heartbeat timer makes datapath_fd() readable every DATAPATH_HEARTBEAT_MS,
 * so a caller that polls whenever it is readable keeps the programs engaged. */
static int setup_heartbeat(struct datapath *dp)
{
	long ns = DATAPATH_HEARTBEAT_MS * 1000000L;
	struct itimerspec its = {.it_value.tv_nsec = ns, .it_interval.tv_nsec = ns};
	struct epoll_event ev = {.events = EPOLLIN};

	dp->hbfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (dp->hbfd < 0)
		return -errno;
	if (timerfd_settime(dp->hbfd, 0, &its, NULL) ||
	    epoll_ctl(dp->epfd, EPOLL_CTL_ADD, dp->hbfd, &ev))
		return -errno;
	return 0;
}

static void heartbeat_tick(struct datapath *dp)
{
	uint64_t ticks;

	if (dp->hbfd >= 0 && read(dp->hbfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		log_debug("datapath: heartbeat timer: %s", strerror(errno));
	datapath_heartbeat(dp);
}

/* One fd for the caller's event loop: the ring buffer (or the tun of the tun
 * hand-off), the heartbeat timer and, when mirror wakeups are batched, the
 * timer that bounds how long copies may wait.
 * The ring is watched edge-triggered: level-triggered epoll re-polls a
 * ready ring on every epoll_wait and, with copies arriving without
 * wakeups, would spin once per packet; edge-triggered reports only real
 * wakeups, and every report is followed by a full drain. */
static int setup_poll_fds(struct datapath *dp, bool batch)
{
	struct epoll_event ring_ev = {.events = EPOLLIN | EPOLLET};
	struct epoll_event ev = {.events = EPOLLIN};

	int err;

	dp->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (dp->epfd < 0)
		return -errno;
	err = setup_heartbeat(dp);
	if (err)
		return err;
	if (dp->handoff == DATAPATH_HANDOFF_TUN)
		return epoll_ctl(dp->epfd, EPOLL_CTL_ADD, dp->tun.fd, &ev) ? -errno : 0;
	if (epoll_ctl(dp->epfd, EPOLL_CTL_ADD, map_fd(dp->skel->maps.bm_events), &ring_ev))
		return -errno;
	if (!batch)
		return 0;
	dp->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (dp->timerfd < 0)
		return -errno;
	if (epoll_ctl(dp->epfd, EPOLL_CTL_ADD, dp->timerfd, &ev))
		return -errno;
	set_polling(dp, false);
	return 0;
}

/* The consumer side of the hand-off: the ring buffer and its poll fds, or the tun read buffer. */
static int setup_handoff(struct datapath *dp, const struct datapath_opts *o)
{
	if (dp->handoff != DATAPATH_HANDOFF_RINGBUF) {
		dp->tunbuf = malloc(TUN_BUF_SIZE + sizeof(struct bm_pkt_hdr));
		return dp->tunbuf ? setup_poll_fds(dp, false) : -ENOMEM;
	}
	dp->rb = ring_buffer__new(map_fd(dp->skel->maps.bm_events), on_record, dp, NULL);
	if (!dp->rb)
		return -errno;
	return setup_poll_fds(dp, o->mirror_batch_bytes != 0);
}

static void close_fds(struct datapath *dp)
{
	if (dp->hbfd >= 0)
		close(dp->hbfd);
	if (dp->timerfd >= 0)
		close(dp->timerfd);
	if (dp->epfd >= 0)
		close(dp->epfd);
}

struct datapath *datapath_open(const struct datapath_opts *o)
{
	struct datapath_opts defaults = DATAPATH_OPTS_DEFAULT;
	struct datapath *dp;
	int err;

	if (!o)
		o = &defaults;
	dp = calloc(1, sizeof(*dp));
	if (!dp) {
		errno = ENOMEM;
		return NULL;
	}
	dp->tun.fd = -1;
	dp->epfd = -1;
	dp->timerfd = -1;
	dp->hbfd = -1;
	dp->handoff = o->handoff;
	dp->force_clsact = o->force_clsact;
	dp->ncpus = libbpf_num_possible_cpus();
	if (dp->ncpus <= 0) {
		err = dp->ncpus ? dp->ncpus : -EINVAL;
		goto err_free;
	}
	if (dp->handoff == DATAPATH_HANDOFF_TUN && o->no_tun) {
		err = -EINVAL;
		goto err_free;
	}
	if (!o->no_tun) {
		err = tun_open(&dp->tun, o->tun_name ? o->tun_name : "bpfm0",
			       o->tun_addr ? o->tun_addr : "169.254.239.1");
		if (err) {
			log_error("datapath: tun device: %s", strerror(-err));
			goto err_free;
		}
		dp->has_tun = true;
	}
	dp->skel = tc_pod__open();
	if (!dp->skel) {
		err = -errno;
		goto err_tun;
	}
	err = configure(dp, o);
	if (err)
		goto err_skel;
	err = tc_pod__load(dp->skel);
	if (err) {
		log_error("datapath: loading BPF programs: %s", strerror(-err));
		goto err_skel;
	}
	datapath_heartbeat(dp);
	err = setup_handoff(dp, o);
	if (err)
		goto err_skel;
	if (!o->no_stale_cleanup) {
		err = tcx_remove_stale_all(DATAPATH_TC_HANDLE, DATAPATH_TC_PRIO, prog_names);
		if (err < 0)
			log_warn("datapath: stale filter scan: %s", strerror(-err));
	}
	return dp;
err_skel:
	close_fds(dp);
	ring_buffer__free(dp->rb);
	tc_pod__destroy(dp->skel);
err_tun:
	if (dp->has_tun)
		tun_close(&dp->tun);
err_free:
	free(dp->tunbuf);
	free(dp);
	errno = -err;
	return NULL;
}

void datapath_close(struct datapath *dp)
{
	if (!dp)
		return;
	for (size_t i = 0; i < dp->npods; i++) {
		tcx_detach(&dp->pods[i].to_pod);
		tcx_detach(&dp->pods[i].from_pod);
	}
	free(dp->pods);
	datapath_release_router(dp);
	close_fds(dp);
	ring_buffer__free(dp->rb);
	tc_pod__destroy(dp->skel);
	if (dp->has_tun)
		tun_close(&dp->tun);
	free(dp->tunbuf);
	free(dp);
}

static struct pod_link *find_pod(const struct datapath *dp, int ifindex)
{
	for (size_t i = 0; i < dp->npods; i++)
		if (dp->pods[i].ifindex == ifindex)
			return &dp->pods[i];
	return NULL;
}

int datapath_add_node_addr(struct datapath *dp, const struct datapath_ip *addr)
{
	struct bm_addr_key k;
	__u32 one = 1;
	int err;

	memset(&k, 0, sizeof(k));
	err = ip_to_abi(addr, &k.family, k.addr);
	if (err)
		return err;
	return bpf_map_update_elem(map_fd(dp->skel->maps.bm_node_addrs), &k, &one, BPF_ANY);
}

int datapath_attach_pod(struct datapath *dp, int ifindex, const struct datapath_ip *node_src)
{
	struct pod_link *p = find_pod(dp, ifindex), *grown;
	struct pod_link n;
	int err;

	if (node_src) {
		err = datapath_add_node_addr(dp, node_src);
		if (err)
			return err;
	}
	if (p) {
		p->refs++;
		return 0;
	}
	memset(&n, 0, sizeof(n));
	n.ifindex = ifindex;
	n.refs = 1;
	err = tcx_attach(bpf_program__fd(dp->skel->progs.bm_to_pod), ifindex, TCX_DIR_EGRESS,
			 dp->force_clsact, DATAPATH_TC_HANDLE, DATAPATH_TC_PRIO, &n.to_pod);
	if (err)
		goto err_out;
	err = tcx_attach(bpf_program__fd(dp->skel->progs.bm_from_pod), ifindex, TCX_DIR_INGRESS,
			 dp->force_clsact, DATAPATH_TC_HANDLE, DATAPATH_TC_PRIO, &n.from_pod);
	if (err)
		goto err_egress;
	grown = realloc(dp->pods, (dp->npods + 1) * sizeof(*grown));
	if (!grown) {
		err = -ENOMEM;
		goto err_ingress;
	}
	dp->pods = grown;
	dp->pods[dp->npods++] = n;
	log_debug("datapath: attached to ifindex %d (%s)", ifindex,
		  n.to_pod.clsact ? "clsact" : "tcx");
	return 0;
err_ingress:
	tcx_detach(&n.from_pod);
err_egress:
	tcx_detach(&n.to_pod);
err_out:
	log_error("datapath: attach to ifindex %d: %s", ifindex, strerror(-err));
	return err;
}

int datapath_release_pod(struct datapath *dp, int ifindex)
{
	struct pod_link *p = find_pod(dp, ifindex);
	int err, err2;

	if (!p)
		return -ENOENT;
	if (--p->refs > 0)
		return 0;
	err = tcx_detach(&p->to_pod);
	err2 = tcx_detach(&p->from_pod);
	*p = dp->pods[--dp->npods];
	log_debug("datapath: detached from ifindex %d", ifindex);
	return err ? err : err2;
}

int datapath_attach_router(struct datapath *dp, int ifindex)
{
	int err;

	datapath_release_router(dp);
	err = tcx_attach(bpf_program__fd(dp->skel->progs.bm_from_router), ifindex, TCX_DIR_INGRESS,
			 dp->force_clsact, DATAPATH_TC_HANDLE, DATAPATH_TC_PRIO, &dp->router);
	if (err) {
		log_error("datapath: attach to the router link %d: %s", ifindex, strerror(-err));
		return err;
	}
	dp->has_router = true;
	return 0;
}

void datapath_release_router(struct datapath *dp)
{
	if (!dp->has_router)
		return;
	tcx_detach(&dp->router);
	dp->has_router = false;
}

bool datapath_pod_uses_tcx(const struct datapath *dp, int ifindex)
{
	const struct pod_link *p = find_pod(dp, ifindex);

	return p && !p->to_pod.clsact;
}

int datapath_count_attached(int ifindex)
{
	return tcx_count_ours(ifindex, DATAPATH_TC_HANDLE, DATAPATH_TC_PRIO, prog_names);
}

int datapath_fd(const struct datapath *dp)
{
	return dp->epfd;
}

static int poll_tun(struct datapath *dp, datapath_pkt_cb cb, void *ctx)
{
	struct bm_pkt_hdr *hdr = (struct bm_pkt_hdr *)dp->tunbuf;
	struct datapath_pkt pkt;
	int n = 0, len, err;

	while (n < TUN_READ_BUDGET) {
		len = tun_read(&dp->tun, dp->tunbuf + sizeof(*hdr), TUN_BUF_SIZE);
		if (len == -EAGAIN || len == -EINTR)
			break;
		if (len < 0)
			return len;
		memset(hdr, 0, sizeof(*hdr));
		hdr->reason = BM_R_MIRRORED;
		hdr->ifindex = (__u32)dp->tun.ifindex;
		hdr->pkt_len = hdr->cap_len = (__u32)len;
		hdr->family =
		    len > 0 && (dp->tunbuf[sizeof(*hdr)] >> 4) == 6 ? BM_AF_INET6 : BM_AF_INET;
		pkt.hdr = hdr;
		pkt.data = dp->tunbuf + sizeof(*hdr);
		pkt.len = (size_t)len;
		n++;
		err = cb ? cb(ctx, &pkt) : 0;
		if (err)
			return err;
	}
	return n;
}

int datapath_poll(struct datapath *dp, datapath_pkt_cb cb, void *ctx)
{
	int n;

	heartbeat_tick(dp);
	if (dp->handoff == DATAPATH_HANDOFF_TUN)
		return poll_tun(dp, cb, ctx);
	dp->cb = cb;
	dp->cb_ctx = ctx;
	n = ring_buffer__consume(dp->rb);
	dp->cb = NULL;
	dp->cb_ctx = NULL;
	batch_timer(dp, n);
	return n;
}

int datapath_inject(struct datapath *dp, const void *ippkt, size_t len)
{
	if (!dp->has_tun)
		return -ENODEV;
	if (len < 20)
		return -EINVAL;
	return tun_write(&dp->tun, ippkt, len);
}

int datapath_inject_batch(struct datapath *dp, const struct datapath_pkt *pkts, size_t n)
{
	size_t i;
	int err = 0;

	/* tun takes one packet per write(); the batch saves the caller's loop only. */
	for (i = 0; i < n; i++) {
		err = datapath_inject(dp, pkts[i].data, pkts[i].len);
		if (err)
			break;
	}
	return i > 0 ? (int)i : err;
}

int datapath_stats(const struct datapath *dp, struct bm_stat out[BM_R_MAX])
{
	struct bm_stat *percpu;
	int fd = map_fd(dp->skel->maps.bm_stats), err = 0;

	percpu = calloc((size_t)dp->ncpus, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	for (__u32 r = 0; r < BM_R_MAX; r++) {
		out[r].packets = out[r].bytes = 0;
		if (bpf_map_lookup_elem(fd, &r, percpu)) {
			err = -errno;
			break;
		}
		for (int c = 0; c < dp->ncpus; c++) {
			out[r].packets += percpu[c].packets;
			out[r].bytes += percpu[c].bytes;
		}
	}
	free(percpu);
	return err;
}

int datapath_flow_lookup(const struct datapath *dp, const struct bm_flow_key *key,
			 struct bm_flow *out)
{
	if (bpf_map_lookup_elem(map_fd(dp->skel->maps.bm_flows), key, out))
		return -errno;
	return 0;
}

int datapath_prog_fd(const struct datapath *dp, enum bm_dir dir)
{
	return bpf_program__fd(dir == BM_DIR_TO_POD ? dp->skel->progs.bm_to_pod
						    : dp->skel->progs.bm_from_pod);
}

int datapath_router_prog_fd(const struct datapath *dp)
{
	return bpf_program__fd(dp->skel->progs.bm_from_router);
}

const char *datapath_tun_name(const struct datapath *dp)
{
	return dp->has_tun ? dp->tun.name : "";
}

int datapath_tun_ifindex(const struct datapath *dp)
{
	return dp->has_tun ? dp->tun.ifindex : 0;
}

int datapath_map_fd_subs(const struct datapath *dp)
{
	return map_fd(dp->skel->maps.bm_subs);
}

int datapath_map_fd_reserved(const struct datapath *dp)
{
	return map_fd(dp->skel->maps.bm_reserved);
}

int datapath_map_fd_flows(const struct datapath *dp)
{
	return map_fd(dp->skel->maps.bm_flows);
}

int datapath_port_key(const struct datapath_ip *ip, uint16_t port, struct bm_port_key *k)
{
	return port_key(ip, port, k);
}
