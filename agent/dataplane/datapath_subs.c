/* Data-plane map state: subscriptions, reserved port ranges and the sessions of flows. */
#include "datapath_int.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int sub_store(int fd, const struct bm_port_key *k, const struct bm_sub *s);

static bool sub_empty(const struct bm_sub *s)
{
	for (int i = 0; i < BM_MAX_SESSIONS; i++)
		if (s->mirror[i])
			return false;
	return s->steal == 0 && s->router_ifindex == 0;
}

int datapath_subscribe(struct datapath *dp, const struct datapath_ip *pod, uint16_t port,
		       enum datapath_mode mode, uint32_t sid)
{
	int fd = datapath_map_fd_subs(dp), err, free_slot = -1;
	struct bm_port_key k;
	struct bm_sub s;

	if (!sid || (mode != DATAPATH_MIRROR && mode != DATAPATH_STEAL))
		return -EINVAL;
	err = datapath_port_key(pod, port, &k);
	if (err)
		return err;
	if (bpf_map_lookup_elem(fd, &k, &s))
		memset(&s, 0, sizeof(s));
	if (mode == DATAPATH_STEAL) {
		if (s.steal == sid)
			return 0;
		if (s.steal)
			return -EBUSY;
		s.steal = sid;
	} else {
		for (int i = BM_MAX_SESSIONS - 1; i >= 0; i--) {
			if (s.mirror[i] == sid)
				return 0;
			if (!s.mirror[i])
				free_slot = i;
		}
		if (free_slot < 0)
			return -ENOSPC;
		s.mirror[free_slot] = sid;
	}
	if (bpf_map_update_elem(fd, &k, &s, BPF_ANY))
		return -errno;
	return 0;
}

int datapath_route(struct datapath *dp, const struct datapath_ip *pod, uint16_t port, int ifindex)
{
	int fd = datapath_map_fd_subs(dp), err;
	struct bm_port_key k;
	struct bm_sub s;

	if (ifindex < 0)
		return -EINVAL;
	err = datapath_port_key(pod, port, &k);
	if (err)
		return err;
	if (bpf_map_lookup_elem(fd, &k, &s))
		memset(&s, 0, sizeof(s));
	s.router_ifindex = (uint32_t)ifindex;
	return sub_store(fd, &k, &s);
}

/* Removes sid from one flow's session list; true if the list changed. */
static bool flow_forget(struct bm_flow *f, uint32_t sid)
{
	bool changed = false;
	int n = 0;

	for (int i = 0; i < BM_MAX_SESSIONS; i++) {
		if (f->sessions[i] == sid) {
			changed = true;
			continue;
		}
		f->sessions[n++] = f->sessions[i];
	}
	while (n < BM_MAX_SESSIONS)
		f->sessions[n++] = 0;
	return changed;
}

/*
 * Forgets sid in the flows toward (family, addr, port) (all flows when pk is
 * NULL); empty flows are deleted. Keys are collected first because deleting
 * while walking with get_next_key restarts hash-map walks.
 */
static int flows_forget(struct datapath *dp, const struct bm_port_key *pk, uint32_t sid)
{
	int fd = datapath_map_fd_flows(dp), err = 0;
	struct bm_flow_key key, next, *keys = NULL, *grown;
	struct bm_flow *vals = NULL, *vgrown, f;
	size_t n = 0, cap = 0;
	void *prev = NULL;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (pk && (next.family != pk->family || next.dport != pk->port ||
			   memcmp(next.daddr, pk->addr, sizeof(pk->addr)) != 0))
			continue;
		if (bpf_map_lookup_elem(fd, &next, &f) || !flow_forget(&f, sid))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			grown = realloc(keys, cap * sizeof(*keys));
			if (!grown) {
				err = -ENOMEM;
				goto out;
			}
			keys = grown;
			vgrown = realloc(vals, cap * sizeof(*vals));
			if (!vgrown) {
				err = -ENOMEM;
				goto out;
			}
			vals = vgrown;
		}
		keys[n] = next;
		vals[n++] = f;
	}
	for (size_t i = 0; i < n; i++) {
		/* The LRU may have evicted the entry meanwhile: ENOENT is fine. */
		if (vals[i].sessions[0] == 0)
			bpf_map_delete_elem(fd, &keys[i]);
		else
			bpf_map_update_elem(fd, &keys[i], &vals[i], BPF_EXIST);
	}
out:
	free(keys);
	free(vals);
	return err;
}

/* Removes sid from subscription *s; returns true if it held a slot. */
static bool sub_forget(struct bm_sub *s, uint32_t sid)
{
	bool found = false;

	for (int i = 0; i < BM_MAX_SESSIONS; i++) {
		if (s->mirror[i] == sid) {
			s->mirror[i] = 0;
			found = true;
		}
	}
	if (s->steal == sid) {
		s->steal = 0;
		found = true;
	}
	return found;
}

static int sub_store(int fd, const struct bm_port_key *k, const struct bm_sub *s)
{
	int err =
	    sub_empty(s) ? bpf_map_delete_elem(fd, k) : bpf_map_update_elem(fd, k, s, BPF_ANY);

	return err ? -errno : 0;
}

int datapath_unsubscribe(struct datapath *dp, const struct datapath_ip *pod, uint16_t port,
			 uint32_t sid)
{
	int fd = datapath_map_fd_subs(dp), err;
	struct bm_port_key k;
	struct bm_sub s;

	err = datapath_port_key(pod, port, &k);
	if (err)
		return err;
	if (bpf_map_lookup_elem(fd, &k, &s) || !sub_forget(&s, sid))
		return -ENOENT;
	/* Subscription first, so no new flow of sid appears while flows are flushed. */
	err = sub_store(fd, &k, &s);
	if (err)
		return err;
	return flows_forget(dp, &k, sid);
}

int datapath_reserve_ports(struct datapath *dp, const struct datapath_ip *pod, uint16_t lo,
			   uint16_t hi, uint32_t sid)
{
	int fd = datapath_map_fd_reserved(dp), err;
	struct bm_reserved v = {.session = sid};
	struct bm_port_key k;
	uint32_t p;

	if (!sid || lo > hi || lo == 0)
		return -EINVAL;
	for (p = lo; p <= hi; p++) {
		err = datapath_port_key(pod, (uint16_t)p, &k);
		if (err)
			goto rollback;
		if (bpf_map_update_elem(fd, &k, &v, BPF_NOEXIST)) {
			err = errno == EEXIST ? -EBUSY : -errno;
			goto rollback;
		}
	}
	return 0;
rollback:
	if (p > lo)
		datapath_release_ports(dp, pod, lo, (uint16_t)(p - 1), sid);
	return err;
}

int datapath_release_ports(struct datapath *dp, const struct datapath_ip *pod, uint16_t lo,
			   uint16_t hi, uint32_t sid)
{
	int fd = datapath_map_fd_reserved(dp), err;
	struct bm_port_key k;
	struct bm_reserved v;

	for (uint32_t p = lo; p <= hi; p++) {
		err = datapath_port_key(pod, (uint16_t)p, &k);
		if (err)
			return err;
		if (bpf_map_lookup_elem(fd, &k, &v) == 0 && v.session == sid)
			bpf_map_delete_elem(fd, &k);
	}
	return 0;
}

/* Applies update() to every entry of a (port key -> value) map; deletes those it empties. */
static int purge_port_map(int fd, size_t vsize, uint32_t sid,
			  bool (*update)(void *val, uint32_t sid, bool *now_empty))
{
	struct bm_port_key key, next, *todo = NULL, *grown;
	size_t n = 0, cap = 0;
	void *prev = NULL;
	uint8_t val[64];
	bool empty;
	int err = 0;

	if (vsize > sizeof(val))
		return -EINVAL;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &next, val) || !update(val, sid, &empty))
			continue;
		if (!empty) {
			bpf_map_update_elem(fd, &next, val, BPF_EXIST);
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			grown = realloc(todo, cap * sizeof(*todo));
			if (!grown) {
				err = -ENOMEM;
				goto out;
			}
			todo = grown;
		}
		todo[n++] = next;
	}
	for (size_t i = 0; i < n; i++)
		bpf_map_delete_elem(fd, &todo[i]);
out:
	free(todo);
	return err;
}

static bool sub_update(void *val, uint32_t sid, bool *now_empty)
{
	struct bm_sub *s = val;
	bool found = sub_forget(s, sid);

	*now_empty = sub_empty(s);
	return found;
}

static bool reserved_update(void *val, uint32_t sid, bool *now_empty)
{
	const struct bm_reserved *r = val;

	*now_empty = true;
	return r->session == sid;
}

int datapath_session_end(struct datapath *dp, uint32_t sid)
{
	int err, err2, err3;

	err = purge_port_map(datapath_map_fd_subs(dp), sizeof(struct bm_sub), sid, sub_update);
	err2 = purge_port_map(datapath_map_fd_reserved(dp), sizeof(struct bm_reserved), sid,
			      reserved_update);
	err3 = flows_forget(dp, NULL, sid);
	return err ? err : err2 ? err2 : err3;
}

int datapath_flow_count(const struct datapath *dp)
{
	int fd = datapath_map_fd_flows(dp), n = 0;
	struct bm_flow_key key, next;
	void *prev = NULL;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		n++;
	}
	return n;
}

uint32_t datapath_flow_stealer(const struct datapath *dp, const struct bm_flow_key *key)
{
	struct bm_flow f;

	if (bpf_map_lookup_elem(datapath_map_fd_flows(dp), key, &f))
		return 0;
	return f.verdict == BM_V_STEAL ? f.sessions[0] : 0;
}
