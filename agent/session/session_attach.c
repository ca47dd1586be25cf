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
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- attach ------------------------------------------------------------- */

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
		log_info("session %u (%s): port %u %s", s->id, s->identity, port,
			 mode == DATAPATH_STEAL	     ? "stolen"
			 : mode == DATAPATH_FILTERED ? "stolen with a filter"
						     : "mirrored");
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

static int pick_range(struct session *s, unsigned want)
{
	struct port_set *used = calloc(1, sizeof(*used));
	unsigned size = DEFAULT_RANGE_SIZE;
	int err;

	if (!used)
		return -ENOMEM;
	if (want) {
		size = 16;
		while (size < want && size < 16384)
			size <<= 1;
	}
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

int session_on_attach(struct session *s, const Bpfmirror__Frame *f)
{
	const Bpfmirror__AttachRequest *a = f->attach_request;
	const Bpfmirror__Target *t = a->target;
	enum datapath_mode mode =
	    a->mode == BPFMIRROR__MODE__MODE_STEAL ? DATAPATH_STEAL : DATAPATH_MIRROR;
	const char *hdr = a->http_filter ? a->http_filter->header_regex : "";
	const char *path = a->http_filter ? a->http_filter->path_regex : "";
	Bpfmirror__Frame r = BPFMIRROR__FRAME__INIT;
	Bpfmirror__AttachReply ar = BPFMIRROR__ATTACH_REPLY__INIT;
	struct container_env env = {0};
	Bpfmirror__KeyValue *kvs = NULL, **kvp = NULL;
	struct datapath_ip node_src;
	char ifname[IF_NAMESIZE];
	int veth = 0;
	Bpfmirror__Error__Code code = BPFMIRROR__ERROR__CODE__CODE_INTERNAL;
	char msg[512], sid[16];
	char *resolv = NULL;
	size_t resolv_len = 0, nkv = 0;
	int err;

	if (s->state != S_READY) {
		snprintf(msg, sizeof(msg), "attach: %s",
			 s->state == S_HELLO ? "hello first" : "this session is already attached");
		return session_send_error(
		    s, f->request_id, BPFMIRROR__ERROR__CODE__CODE_UNEXPECTED_MESSAGE, false, msg);
	}
	if (!t || t->n_pod_ips == 0 || !t->container_id[0]) {
		snprintf(msg, sizeof(msg), "attach: the target needs a pod IP and a container ID");
		code = BPFMIRROR__ERROR__CODE__CODE_INVALID_ARGUMENT;
		goto fail;
	}
	snprintf(s->ns, sizeof(s->ns), "%s", t->namespace_);
	err = policy_check_attach(s->ag->policy, t->namespace_,
				  mode == DATAPATH_STEAL ? POLICY_STEAL : POLICY_MIRROR, hdr, path,
				  msg, sizeof(msg));
	if (err) {
		code = BPFMIRROR__ERROR__CODE__CODE_PERMISSION_DENIED;
		goto fail;
	}
	if ((hdr && hdr[0]) || (path && path[0])) {
		char why[400];
		if (mode != DATAPATH_STEAL || !s->ag->l7) {
			snprintf(msg, sizeof(msg), "attach: an HTTP filter needs steal mode%s",
				 s->ag->l7 ? "" : " and the agent's data plane");
			code = BPFMIRROR__ERROR__CODE__CODE_INVALID_ARGUMENT;
			goto fail;
		}
		if (httpfilter_validate(hdr, path, why, sizeof(why))) {
			snprintf(msg, sizeof(msg), "attach: %s", why);
			code = BPFMIRROR__ERROR__CODE__CODE_INVALID_ARGUMENT;
			goto fail;
		}
		snprintf(s->filter_header, sizeof(s->filter_header), "%s", hdr ? hdr : "");
		snprintf(s->filter_path, sizeof(s->filter_path), "%s", path ? path : "");
		mode = DATAPATH_FILTERED;
	}
	if (datapath_ip_parse(t->pod_ips[0], &s->pod_ip)) {
		snprintf(msg, sizeof(msg), "attach: '%s' is not an IP address", t->pod_ips[0]);
		code = BPFMIRROR__ERROR__CODE__CODE_INVALID_ARGUMENT;
		goto fail;
	}
	snprintf(s->pod_ip_str, sizeof(s->pod_ip_str), "%s", t->pod_ips[0]);
	err = container_find_pid(s->ag->opts.proc_root, t->container_id, &s->pid);
	if (err) {
		snprintf(msg, sizeof(msg), "attach: container %s of pod %s/%s %s on node %s",
			 t->container_id, t->namespace_, t->pod_name,
			 err == -EINVAL ? "is not a valid container ID" : "is not running",
			 s->ag->node_name);
		code = err == -EINVAL ? BPFMIRROR__ERROR__CODE__CODE_INVALID_ARGUMENT
				      : BPFMIRROR__ERROR__CODE__CODE_NOT_FOUND;
		goto fail;
	}
	/* The client's claims about the pod must match what the node knows. */
	if (container_check_pod_uid(s->ag->opts.proc_root, s->pid, t->pod_uid)) {
		snprintf(msg, sizeof(msg), "attach: container %s does not belong to pod UID %s",
			 t->container_id, t->pod_uid);
		code = BPFMIRROR__ERROR__CODE__CODE_PERMISSION_DENIED;
		goto fail;
	}
	err =
	    container_check_namespace(s->ag->opts.pod_logs, t->namespace_, t->pod_name, t->pod_uid);
	/* Unverifiable on this node: fail closed when the policy limits namespaces. */
	if (err == -EPERM || (err == -ENOENT && s->ag->policy->ns_allow.count)) {
		snprintf(msg, sizeof(msg),
			 "attach: pod %s/%s (UID %s) is not on node %s (checked %s)", t->namespace_,
			 t->pod_name, t->pod_uid, s->ag->node_name, s->ag->opts.pod_logs);
		code = BPFMIRROR__ERROR__CODE__CODE_PERMISSION_DENIED;
		goto fail;
	}
	s->root_fd = container_open_root(s->ag->opts.proc_root, s->pid);
	if (s->root_fd < 0) {
		snprintf(msg, sizeof(msg), "attach: cannot open the container's root: %s",
			 strerror(-s->root_fd));
		goto fail;
	}
	err = container_read_env(s->ag->opts.proc_root, s->pid, &env);
	if (err) {
		snprintf(msg, sizeof(msg), "attach: cannot read the container's environment: %s",
			 strerror(-err));
		goto fail;
	}
	{
		char rpath[PATH_MAX];
		if (fsc_canonical(s->root_fd, "/etc/resolv.conf", rpath, sizeof(rpath)) == 0)
			fsc_read(s->root_fd, rpath, 0, RESOLV_MAX, &resolv, &resolv_len);
	}
	if (s->ag->dp) {
		int vrc = podpeer_lookup(s->ag->opts.proc_root, s->pid, s->pod_ip_str, &veth);
		if (vrc == -EADDRNOTAVAIL || vrc == -EAFNOSUPPORT) {
			snprintf(msg, sizeof(msg), "attach: %s is not %s of container %s",
				 s->pod_ip_str,
				 vrc == -EAFNOSUPPORT ? "a supported (IPv4) address" : "an address",
				 t->container_id);
			code = BPFMIRROR__ERROR__CODE__CODE_PERMISSION_DENIED;
			goto fail;
		}
		err = podroute_lookup(&s->pod_ip, &s->ifindex, &node_src);
		/* A bridge CNI routes to the bridge; pods talk through its veth ports. */
		if (!err && vrc == 0 && veth != s->ifindex &&
		    if_indextoname((unsigned)veth, ifname))
			s->ifindex = veth;
		if (err) {
			snprintf(msg, sizeof(msg),
				 "attach: pod IP %s has no host-side interface on node %s: %s",
				 s->pod_ip_str, s->ag->node_name, strerror(-err));
			code = BPFMIRROR__ERROR__CODE__CODE_NOT_FOUND;
			s->ifindex = 0;
			goto fail;
		}
		err = datapath_attach_pod(s->ag->dp, s->ifindex, &node_src);
		if (err) {
			snprintf(msg, sizeof(msg), "attach: attaching to ifindex %d failed: %s",
				 s->ifindex, strerror(-err));
			s->ifindex = 0;
			goto fail;
		}
	}
	s->state = S_ATTACHED; /* from here on session_release_dataplane() undoes everything */
	err = pick_range(s, a->port_range_size);
	if (!err && s->ag->dp)
		err =
		    datapath_reserve_ports(s->ag->dp, &s->pod_ip, s->range.lo, s->range.hi, s->id);
	if (err) {
		snprintf(msg, sizeof(msg), "attach: no free port range on pod %s: %s",
			 s->pod_ip_str, strerror(-err));
		code = BPFMIRROR__ERROR__CODE__CODE_RESOURCE_EXHAUSTED;
		goto fail_attached;
	}
	s->range_held = true;
	for (size_t i = 0; i < a->n_ports; i++) {
		/* A steal waits for the developer's listener (Subscribe). */
		err = subscribe_port(s, (uint16_t)a->ports[i], mode, mode == DATAPATH_MIRROR);
		if (err == -EBUSY) {
			snprintf(msg, sizeof(msg),
				 "attach: port %u of pod %s is already stolen by %s", a->ports[i],
				 s->pod_ip_str, holder_of(s->ag, s, (uint16_t)a->ports[i]));
			code = BPFMIRROR__ERROR__CODE__CODE_CONFLICT;
			goto fail_attached;
		}
		if (err) {
			snprintf(msg, sizeof(msg), "attach: subscribing port %u failed: %s",
				 a->ports[i], strerror(-err));
			code = err == -ENOSPC ? BPFMIRROR__ERROR__CODE__CODE_RESOURCE_EXHAUSTED
					      : BPFMIRROR__ERROR__CODE__CODE_INTERNAL;
			goto fail_attached;
		}
	}
	kvs = calloc(env.count + 1, sizeof(*kvs));
	kvp = calloc(env.count + 1, sizeof(*kvp));
	if (!kvs || !kvp) {
		snprintf(msg, sizeof(msg), "attach: out of memory");
		goto fail_attached;
	}
	fill_env(s, &env, kvs, kvp, &nkv);
	snprintf(sid, sizeof(sid), "%u", s->id);
	ar.session_id = sid;
	ar.env = kvp;
	ar.n_env = nkv;
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
		 s->ifindex, s->nsubs,
		 mode == DATAPATH_STEAL	     ? "stolen"
		 : mode == DATAPATH_FILTERED ? "stolen with a filter"
					     : "mirrored",
		 s->range.lo, s->range.hi);
	err = session_send_frame(s, &r);
	goto out;

fail_attached:
	session_release_dataplane(s);
fail:
	s->ag->ctr.attach_errors++;
	s->state = S_READY;
	if (s->root_fd >= 0)
		close(s->root_fd);
	s->root_fd = -1;
	err = session_send_error(s, f->request_id, code, false, msg);
out:
	free(kvs);
	free(kvp);
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
