/* Session attach: locating the target, policy, port range, port claims and subscriptions. */
#include "session_priv.h"
#include "log.h"
#include "container.h"
#include "fsconfine.h"
#include "l7steer.h"
#include "podroute.h"
#include "podpeer.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- attach ------------------------------------------------------------- */

static const char *mode_name(enum datapath_mode mode)
{
	return mode == DATAPATH_STEAL	   ? "stolen"
	       : mode == DATAPATH_FILTERED ? "stolen with a filter"
					   : "mirrored";
}

static struct sub *find_sub(struct session *s, uint16_t port)
{
	for (size_t i = 0; i < s->nsubs; i++)
		if (s->subs[i].port == port)
			return &s->subs[i];
	return NULL;
}

static const struct session *steal_holder(struct agent *ag, const struct session *self,
					  uint16_t port)
{
	for (const struct session *o = ag->sessions; o; o = o->next) {
		if (o == self || o->state != S_ATTACHED || strcmp(o->pod_ip_str, self->pod_ip_str))
			continue;
		for (size_t i = 0; i < o->nsubs; i++)
			if (o->subs[i].port == port && o->subs[i].mode == DATAPATH_STEAL)
				return o;
	}
	return NULL;
}

/* Claims PORT for the session; ACTIVATE also subscribes it in the data plane. */
static int subscribe_port(struct session *s, uint16_t port, enum datapath_mode mode, bool activate)
{
	struct sub *sub = find_sub(s, port);
	int err = 0;

	if (sub && sub->mode != mode)
		return -EINVAL;
	if (!sub) {
		if (s->nsubs == SESSION_MAX_PORTS)
			return -ENOSPC;
		if (mode == DATAPATH_STEAL && steal_holder(s->ag, s, port))
			return -EBUSY;
		if (mode == DATAPATH_FILTERED) {
			char why[256];
			err = l7steer_add(s->ag->l7, s->id, &s->pod_ip, port, s->filter_header,
					  s->filter_path, why, sizeof(why));
			if (err) {
				log_warn("session %u: port %u: %s", s->id, port, why);
				return err;
			}
		}
		sub = &s->subs[s->nsubs++];
		sub->port = port;
		sub->mode = mode;
		sub->active = false;
	}
	if (activate && !sub->active) {
		if (mode == DATAPATH_FILTERED)
			err = l7steer_set_ready(s->ag->l7, s->id, port, true);
		else if (s->ag->dp)
			err = datapath_subscribe(s->ag->dp, &s->pod_ip, port, mode, s->id);
		if (err)
			return err;
		sub->active = true;
		log_info("session %u (%s): port %u %s", s->id, s->identity, port, mode_name(mode));
	}
	return 0;
}

static int deactivate_port(struct session *s, struct sub *sub)
{
	int err = 0;

	if (sub->active && sub->mode == DATAPATH_FILTERED)
		err = l7steer_set_ready(s->ag->l7, s->id, sub->port, false);
	else if (sub->active && s->ag->dp)
		err = datapath_unsubscribe(s->ag->dp, &s->pod_ip, sub->port, s->id);
	if (sub->active)
		log_info("session %u (%s): port %u back to the pod", s->id, s->identity, sub->port);
	sub->active = false;
	return err == -ENOENT ? 0 : err;
}

static const char *holder_of(struct agent *ag, const struct session *self, uint16_t port)
{
	const struct session *o = steal_holder(ag, self, port);

	return o ? o->identity : "another session";
}

/* Ports all sessions of this agent hold in the reserved-port map. */
static unsigned reserved_total(const struct agent *ag)
{
	unsigned n = 0;

	for (const struct session *o = ag->sessions; o; o = o->next)
		if (o->range_held)
			n += (unsigned)(o->range.hi - o->range.lo + 1);
	return n;
}

/*
 * The session's reserved range: WANT rounded up to a power of two from 16 to
 * MAX_RANGE_SIZE (0: the default), clear of the pod's ports and of other
 * sessions' ranges on the same pod. -ENOSPC when the node's reserved-port
 * table has no room left for it (the map is shared by every session).
 */
static int pick_range(struct session *s, unsigned want)
{
	struct port_set *used;
	unsigned size = DEFAULT_RANGE_SIZE;
	int err;

	if (want) {
		size = 16;
		while (size < want && size < MAX_RANGE_SIZE)
			size <<= 1;
	}
	if (reserved_total(s->ag) + size > BM_RESERVED_MAX)
		return -ENOSPC;
	used = calloc(1, sizeof(*used));
	if (!used)
		return -ENOMEM;
	port_set_add_pod(used, s->ag->opts.proc_root, s->pid);
	for (struct session *o = s->ag->sessions; o; o = o->next)
		if (o != s && o->range_held && strcmp(o->pod_ip_str, s->pod_ip_str) == 0)
			port_set_add_range(used, o->range);
	err = port_range_pick(used, size, &s->range);
	free(used);
	return err;
}

static void fill_env(struct session *s, const struct container_env *env, Bpfmirror__KeyValue *kvs,
		     Bpfmirror__KeyValue **ptrs, size_t *n)
{
	*n = 0;
	for (size_t i = 0; i < env->count; i++) {
		char *eq = strchr(env->vars[i], '=');
		*eq = '\0';
		if (policy_env_allowed(s->ag->policy, env->vars[i])) {
			bpfmirror__key_value__init(&kvs[*n]);
			kvs[*n].key = env->vars[i];
			kvs[*n].value = eq + 1;
			ptrs[*n] = &kvs[*n];
			(*n)++;
		} else {
			log_info("session %u: withheld env %s (policy)", s->id, env->vars[i]);
		}
	}
}

/* Why an attach step failed: the code and message of the error reply. */
struct attach_err {
	Bpfmirror__Error__Code code;
	char msg[512];
};

__attribute__((format(printf, 3, 4))) static int
attach_fail(struct attach_err *e, Bpfmirror__Error__Code code, const char *fmt, ...)
{
	va_list ap;

	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * Judges the request before anything on the node is touched: a complete
 * target, the policy for its namespace and mode, a valid HTTP filter (which
 * makes the mode DATAPATH_FILTERED).
 */
static int judge_request(struct session *s, const Bpfmirror__AttachRequest *a,
			 enum datapath_mode *mode, struct attach_err *e)
{
	const Bpfmirror__Target *t = a->target;
	const char *hdr = a->http_filter ? a->http_filter->header_regex : "";
	const char *path = a->http_filter ? a->http_filter->path_regex : "";
	char why[400];

	*mode = a->mode == BPFMIRROR__MODE__MODE_STEAL ? DATAPATH_STEAL : DATAPATH_MIRROR;
	if (!t || t->n_pod_ips == 0 || !t->container_id[0])
		return attach_fail(e, BPFMIRROR__ERROR__CODE__CODE_INVALID_ARGUMENT,
				   "attach: the target needs a pod IP and a container ID");
	snprintf(s->ns, sizeof(s->ns), "%s", t->namespace_);
	if (policy_check_attach(s->ag->policy, t->namespace_,
				*mode == DATAPATH_STEAL ? POLICY_STEAL : POLICY_MIRROR, hdr, path,
				e->msg, sizeof(e->msg))) {
		e->code = BPFMIRROR__ERROR__CODE__CODE_PERMISSION_DENIED;
		return -1;
	}
	if (!hdr[0] && !path[0])
		return 0;
	if (*mode != DATAPATH_STEAL || !s->ag->l7)
		return attach_fail(e, BPFMIRROR__ERROR__CODE__CODE_INVALID_ARGUMENT,
				   "attach: an HTTP filter needs steal mode%s",
				   s->ag->l7 ? "" : " and the agent's data plane");
	if (httpfilter_validate(hdr, path, why, sizeof(why)))
		return attach_fail(e, BPFMIRROR__ERROR__CODE__CODE_INVALID_ARGUMENT, "attach: %s",
				   why);
	snprintf(s->filter_header, sizeof(s->filter_header), "%s", hdr);
	snprintf(s->filter_path, sizeof(s->filter_path), "%s", path);
	*mode = DATAPATH_FILTERED;
	return 0;
}

/* The client's claims about the pod (IP, container, UID, namespace) must match the node. */
static int verify_target(struct session *s, const Bpfmirror__Target *t, struct attach_err *e)
{
	int err;

	if (datapath_ip_parse(t->pod_ips[0], &s->pod_ip))
		return attach_fail(e, BPFMIRROR__ERROR__CODE__CODE_INVALID_ARGUMENT,
				   "attach: '%s' is not an IP address", t->pod_ips[0]);
	snprintf(s->pod_ip_str, sizeof(s->pod_ip_str), "%s", t->pod_ips[0]);
	err = container_find_pid(s->ag->opts.proc_root, t->container_id, &s->pid);
	if (err)
		return attach_fail(e,
				   err == -EINVAL ? BPFMIRROR__ERROR__CODE__CODE_INVALID_ARGUMENT
						  : BPFMIRROR__ERROR__CODE__CODE_NOT_FOUND,
				   "attach: container %s of pod %s/%s %s on node %s",
				   t->container_id, t->namespace_, t->pod_name,
				   err == -EINVAL ? "is not a valid container ID"
						  : "is not running",
				   s->ag->node_name);
	err = container_check_pod_uid(s->ag->opts.proc_root, s->pid, t->pod_uid);
	if (err)
		return attach_fail(
		    e, BPFMIRROR__ERROR__CODE__CODE_PERMISSION_DENIED,
		    "attach: cannot verify that container %s belongs to pod UID '%s': "
		    "%s",
		    t->container_id, t->pod_uid,
		    err == -EINVAL  ? "not a pod UID"
		    : err == -EPERM ? "its cgroup names another pod"
				    : strerror(-err));
	/* Every claim fails closed: a namespace the node cannot confirm is refused. */
	err =
	    container_check_namespace(s->ag->opts.pod_logs, t->namespace_, t->pod_name, t->pod_uid);
	if (err == -ENOENT)
		return attach_fail(
		    e, BPFMIRROR__ERROR__CODE__CODE_PERMISSION_DENIED,
		    "attach: cannot verify the namespace of pod %s/%s: kubelet's pod "
		    "log directory %s is missing on node %s (agent option --pod-logs)",
		    t->namespace_, t->pod_name, s->ag->opts.pod_logs, s->ag->node_name);
	if (err)
		return attach_fail(
		    e, BPFMIRROR__ERROR__CODE__CODE_PERMISSION_DENIED,
		    "attach: cannot verify that pod %s/%s (UID %s) is on node %s: no "
		    "%s/%s_%s_%s",
		    t->namespace_, t->pod_name, t->pod_uid, s->ag->node_name, s->ag->opts.pod_logs,
		    t->namespace_, t->pod_name, t->pod_uid);
	return 0;
}

/* Opens the container's root and reads what the twin copies: environment, resolv.conf. */
static int read_container(struct session *s, struct container_env *env, char **resolv,
			  size_t *resolv_len, struct attach_err *e)
{
	char rpath[PATH_MAX];
	int err;

	s->root_fd = container_open_root(s->ag->opts.proc_root, s->pid);
	if (s->root_fd < 0)
		return attach_fail(e, BPFMIRROR__ERROR__CODE__CODE_INTERNAL,
				   "attach: cannot open the container's root: %s",
				   strerror(-s->root_fd));
	err = container_read_env(s->ag->opts.proc_root, s->pid, env);
	if (err)
		return attach_fail(e, BPFMIRROR__ERROR__CODE__CODE_INTERNAL,
				   "attach: cannot read the container's environment: %s",
				   strerror(-err));
	if (fsc_canonical(s->root_fd, "/etc/resolv.conf", rpath, sizeof(rpath)) == 0)
		fsc_read(s->root_fd, rpath, 0, RESOLV_MAX, resolv, resolv_len);
	return 0;
}

static const char *peer_err(int err)
{
	switch (err) {
	case -EADDRNOTAVAIL:
		return "no interface of the container has that address";
	case -EAFNOSUPPORT:
		return "only IPv4 pod addresses are supported";
	case -ENOENT:
		return "the interface holding it has no veth peer";
	case -EXDEV:
		return "the interface holding it has no peer on the node";
	default:
		return strerror(-err);
	}
}

/*
 * Finds the pod's host-side link and attaches the data plane to it. The pod
 * IP must be an address of the container whose veth peer is on the node; that
 * peer is the link (with a bridge CNI the route points at the bridge, but pods
 * talk through its veth ports). Anything less is refused: a route lookup
 * alone would lead an address the client put on its own lo to another pod.
 */
static int attach_pod_link(struct session *s, const Bpfmirror__Target *t, struct attach_err *e)
{
	struct datapath_ip node_src;
	int veth = 0, ifindex = 0, err;

	if (!s->ag->dp)
		return 0;
	err = podpeer_lookup(s->ag->opts.proc_root, s->pid, s->pod_ip_str, &veth);
	if (err)
		return attach_fail(e, BPFMIRROR__ERROR__CODE__CODE_PERMISSION_DENIED,
				   "attach: cannot verify that %s is the pod address of container "
				   "%s: %s",
				   s->pod_ip_str, t->container_id, peer_err(err));
	/* The route gives the node's source address toward the pod (kubelet probes). */
	err = podroute_lookup(&s->pod_ip, &ifindex, &node_src);
	if (err)
		return attach_fail(e, BPFMIRROR__ERROR__CODE__CODE_NOT_FOUND,
				   "attach: pod IP %s has no route on node %s: %s", s->pod_ip_str,
				   s->ag->node_name, strerror(-err));
	s->ifindex = veth;
	err = datapath_attach_pod(s->ag->dp, s->ifindex, &node_src);
	if (err) {
		attach_fail(e, BPFMIRROR__ERROR__CODE__CODE_INTERNAL,
			    "attach: attaching to ifindex %d failed: %s", s->ifindex,
			    strerror(-err));
		s->ifindex = 0;
		return -1;
	}
	return 0;
}

/* Reserves the twin's port range and claims the requested ports. */
static int claim_ports(struct session *s, const Bpfmirror__AttachRequest *a,
		       enum datapath_mode mode, struct attach_err *e)
{
	int err = pick_range(s, a->port_range_size);

	if (!err && s->ag->dp)
		err =
		    datapath_reserve_ports(s->ag->dp, &s->pod_ip, s->range.lo, s->range.hi, s->id);
	if (err)
		return attach_fail(e, BPFMIRROR__ERROR__CODE__CODE_RESOURCE_EXHAUSTED,
				   "attach: no free port range on pod %s: %s", s->pod_ip_str,
				   strerror(-err));
	s->range_held = true;
	for (size_t i = 0; i < a->n_ports; i++) {
		/* A steal waits for the developer's listener (Subscribe). */
		err = subscribe_port(s, (uint16_t)a->ports[i], mode, mode == DATAPATH_MIRROR);
		if (err == -EBUSY)
			return attach_fail(e, BPFMIRROR__ERROR__CODE__CODE_CONFLICT,
					   "attach: port %u of pod %s is already stolen by %s",
					   a->ports[i], s->pod_ip_str,
					   holder_of(s->ag, s, (uint16_t)a->ports[i]));
		if (err)
			return attach_fail(
			    e,
			    err == -ENOSPC ? BPFMIRROR__ERROR__CODE__CODE_RESOURCE_EXHAUSTED
					   : BPFMIRROR__ERROR__CODE__CODE_INTERNAL,
			    "attach: subscribing port %u failed: %s", a->ports[i], strerror(-err));
	}
	return 0;
}

/* The environment the policy lets the client see, as reply key/values (pointing into env). */
struct env_reply {
	Bpfmirror__KeyValue *kvs;
	Bpfmirror__KeyValue **ptrs;
	size_t n;
};

static int build_env_reply(struct session *s, const struct container_env *env,
			   struct env_reply *out, struct attach_err *e)
{
	out->kvs = calloc(env->count + 1, sizeof(*out->kvs));
	out->ptrs = calloc(env->count + 1, sizeof(*out->ptrs));
	if (!out->kvs || !out->ptrs)
		return attach_fail(e, BPFMIRROR__ERROR__CODE__CODE_INTERNAL,
				   "attach: out of memory");
	fill_env(s, env, out->kvs, out->ptrs, &out->n);
	return 0;
}

static int send_attach_reply(struct session *s, const Bpfmirror__Frame *f, enum datapath_mode mode,
			     const struct env_reply *env, char *resolv, size_t resolv_len)
{
	const Bpfmirror__Target *t = f->attach_request->target;
	Bpfmirror__Frame r = BPFMIRROR__FRAME__INIT;
	Bpfmirror__AttachReply ar = BPFMIRROR__ATTACH_REPLY__INIT;
	char sid[16];

	snprintf(sid, sizeof(sid), "%u", s->id);
	ar.session_id = sid;
	ar.env = env->ptrs;
	ar.n_env = env->n;
	ar.resolv_conf.data = (uint8_t *)resolv;
	ar.resolv_conf.len = resolv_len;
	ar.port_range_lo = s->range.lo;
	ar.port_range_hi = s->range.hi;
	ar.pod_ip = s->pod_ip_str;
	r.request_id = f->request_id;
	r.body_case = BPFMIRROR__FRAME__BODY_ATTACH_REPLY;
	r.attach_reply = &ar;
	log_info("session %u (%s): attached to %s/%s (%s, pid %d, ifindex %d), %zu port(s) %s, "
		 "range %u-%u",
		 s->id, s->identity, t->namespace_, t->pod_name, s->pod_ip_str, (int)s->pid,
		 s->ifindex, s->nsubs, mode_name(mode), s->range.lo, s->range.hi);
	return session_send_frame(s, &r);
}

int session_on_attach(struct session *s, const Bpfmirror__Frame *f)
{
	const Bpfmirror__AttachRequest *a = f->attach_request;
	struct attach_err e = {.code = BPFMIRROR__ERROR__CODE__CODE_INTERNAL};
	struct container_env env = {0};
	struct env_reply kv = {0};
	enum datapath_mode mode;
	char *resolv = NULL;
	size_t resolv_len = 0;
	int err;

	if (s->state != S_READY)
		return session_send_error(
		    s, f->request_id, BPFMIRROR__ERROR__CODE__CODE_UNEXPECTED_MESSAGE, false,
		    s->state == S_HELLO ? "attach: hello first"
					: "attach: this session is already attached");
	if (judge_request(s, a, &mode, &e) || verify_target(s, a->target, &e) ||
	    read_container(s, &env, &resolv, &resolv_len, &e) || attach_pod_link(s, a->target, &e))
		goto fail;
	s->state = S_ATTACHED; /* from here on session_release_dataplane() undoes everything */
	if (claim_ports(s, a, mode, &e) || build_env_reply(s, &env, &kv, &e))
		goto fail_attached;
	err = send_attach_reply(s, f, mode, &kv, resolv, resolv_len);
	goto out;

fail_attached:
	session_release_dataplane(s);
fail:
	s->ag->ctr.attach_errors++;
	s->state = S_READY;
	if (s->root_fd >= 0)
		close(s->root_fd);
	s->root_fd = -1;
	err = session_send_error(s, f->request_id, e.code, false, e.msg);
out:
	free(kv.kvs);
	free(kv.ptrs);
	free(resolv);
	container_env_free(&env);
	return err;
}

int session_on_subscribe(struct session *s, const Bpfmirror__Frame *f, bool add)
{
	uint32_t port = add ? f->subscribe->port : f->unsubscribe->port;
	struct sub *sub;
	char msg[256];
	int err = 0;

	if (s->state != S_ATTACHED)
		return session_send_error(s, f->request_id,
					  BPFMIRROR__ERROR__CODE__CODE_UNEXPECTED_MESSAGE, false,
					  "subscribe: attach first");
	if (add) {
		enum datapath_mode mode = f->subscribe->mode == BPFMIRROR__MODE__MODE_STEAL
					      ? DATAPATH_STEAL
					      : DATAPATH_MIRROR;
		const Bpfmirror__HttpFilter *hf = f->subscribe->http_filter;
		char why[200];
		sub = find_sub(s, (uint16_t)port);
		if (mode == DATAPATH_STEAL && ((hf && (hf->header_regex[0] || hf->path_regex[0])) ||
					       (sub && sub->mode == DATAPATH_FILTERED))) {
			/* The session's filter is the one given at attach. */
			if (!s->filter_header[0] && !s->filter_path[0])
				return session_send_error(
				    s, f->request_id, BPFMIRROR__ERROR__CODE__CODE_INVALID_ARGUMENT,
				    false, "subscribe: attach with the HTTP filter");
			mode = DATAPATH_FILTERED;
		}
		/* Every subscription is judged like an attach in that mode. */
		if ((mode == DATAPATH_STEAL || mode == DATAPATH_MIRROR) &&
		    policy_check_attach(s->ag->policy, s->ns,
					mode == DATAPATH_STEAL ? POLICY_STEAL : POLICY_MIRROR, NULL,
					NULL, why, sizeof(why))) {
			return session_send_error(s, f->request_id,
						  BPFMIRROR__ERROR__CODE__CODE_PERMISSION_DENIED,
						  false, why);
		}
		err = subscribe_port(s, (uint16_t)port, mode, true);
	} else {
		sub = find_sub(s, (uint16_t)port);
		if (sub)
			err = deactivate_port(s, sub);
	}
	if (err) {
		snprintf(msg, sizeof(msg), "%s port %u: %s", add ? "subscribe" : "unsubscribe",
			 port,
			 err == -EBUSY	  ? "already stolen by another session"
			 : err == -EINVAL ? "subscribed with another mode"
					  : strerror(-err));
		if (err == -EBUSY)
			snprintf(msg, sizeof(msg), "port %u of pod %s is already stolen by %s",
				 port, s->pod_ip_str, holder_of(s->ag, s, (uint16_t)port));
		return session_send_error(s, f->request_id,
					  err == -EBUSY
					      ? BPFMIRROR__ERROR__CODE__CODE_CONFLICT
					      : BPFMIRROR__ERROR__CODE__CODE_INVALID_ARGUMENT,
					  false, msg);
	}
	return session_send_ack(s, f->request_id);
}
