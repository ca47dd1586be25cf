/* Resolves a TARGET (deployment/x, pod/y, ...) to its ready pods, containers, nodes and agents. */
#include "target.h"
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kind_info {
	enum target_kind kind;
	const char *name;	   /* canonical, as printed */
	const char *aliases[4];	   /* accepted spellings besides name */
	const char *group_version; /* API group/version */
	const char *resource;	   /* plural resource in paths */
	const char *api_kind;	   /* "kind" in objects and ownerReferences */
};

static const struct kind_info kinds[] = {
    {TARGET_POD, "pod", {"pods", "po", NULL}, "v1", "pods", "Pod"},
    {TARGET_DEPLOYMENT,
     "deployment",
     {"deployments", "deploy", "deployment.apps", NULL},
     "apps/v1",
     "deployments",
     "Deployment"},
    {TARGET_STATEFULSET,
     "statefulset",
     {"statefulsets", "sts", "statefulset.apps", NULL},
     "apps/v1",
     "statefulsets",
     "StatefulSet"},
    {TARGET_REPLICASET,
     "replicaset",
     {"replicasets", "rs", "replicaset.apps", NULL},
     "apps/v1",
     "replicasets",
     "ReplicaSet"},
};

static const struct kind_info *kind_of(enum target_kind k)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (kinds[i].kind == k)
			return &kinds[i];
	return &kinds[0];
}

const char *target_kind_name(enum target_kind kind)
{
	return kind_of(kind)->name;
}

/* Copies SRC (NULL = "") into a fixed field; -ENAMETOOLONG if it does not fit. */
static int cpy(char *dst, size_t len, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (n >= len)
		return -ENAMETOOLONG;
	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
	return 0;
}

/* ---- parsing the TARGET argument ---------------------------------------------- */

static const struct kind_info *lookup_kind(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		const struct kind_info *k = &kinds[i];

		if (strlen(k->name) == n && strncasecmp(k->name, s, n) == 0)
			return k;
		for (const char *const *a = k->aliases; *a; a++)
			if (strlen(*a) == n && strncasecmp(*a, s, n) == 0)
				return k;
	}
	return NULL;
}

/* A DNS subdomain (object names) or, when LABEL, a DNS label (containers). */
static bool valid_name(const char *s, size_t n, bool label)
{
	if (n == 0 || n > (label ? 63u : 253u))
		return false;
	if (!isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!(islower(c) || isdigit(c) || c == '-' || (c == '.' && !label)))
			return false;
	}
	return true;
}

int target_parse(const char *s, struct target_spec *spec, struct kube_err *err)
{
	const char *part[5];
	size_t len[5], n = 0;
	const char *p = s;
	const struct kind_info *k = NULL;
	size_t name_idx = 0;

	memset(spec, 0, sizeof(*spec));
	if (!s || !*s) {
		kube_err_set(err, "no target given");
		kube_err_hint(err, "name one as deployment/NAME, statefulset/NAME, replicaset/NAME "
				   "or pod/NAME (see 'bpfmirror ls')");
		return -EINVAL;
	}
	while (n < 5) {
		part[n] = p;
		len[n] = strcspn(p, "/");
		p += len[n];
		n++;
		if (!*p)
			break;
		p++;
	}
	if (*p || n == 5)
		goto bad;
	/* NAME, KIND/NAME, NAME/container/C, KIND/NAME/container/C */
	if (n == 2 || n == 4) {
		k = lookup_kind(part[0], len[0]);
		if (!k) {
			kube_err_set(err, "unknown target kind '%.*s' in '%s'", (int)len[0],
				     part[0], s);
			kube_err_hint(err, "kinds: deployment (deploy), statefulset (sts), "
					   "replicaset (rs), pod (po)");
			return -EINVAL;
		}
		name_idx = 1;
	}
	if (n == 3 || n == 4) {
		size_t ci = name_idx + 1;

		if (len[ci] != 9 || strncmp(part[ci], "container", 9) != 0)
			goto bad;
		if (!valid_name(part[ci + 1], len[ci + 1], true)) {
			kube_err_set(err, "'%.*s' is not a valid container name", (int)len[ci + 1],
				     part[ci + 1]);
			return -EINVAL;
		}
		memcpy(spec->container, part[ci + 1], len[ci + 1]);
	}
	if (!valid_name(part[name_idx], len[name_idx], false)) {
		kube_err_set(err, "'%.*s' is not a valid object name", (int)len[name_idx],
			     part[name_idx]);
		kube_err_hint(err, "names use lowercase letters, digits, '-' and '.'");
		return -EINVAL;
	}
	memcpy(spec->name, part[name_idx], len[name_idx]);
	spec->kind = k ? k->kind : TARGET_POD;
	spec->kind_given = k != NULL;
	return 0;
bad:
	kube_err_set(err, "cannot read target '%s'", s);
	kube_err_hint(err, "use KIND/NAME or KIND/NAME/container/CONTAINER, e.g. "
			   "deployment/web/container/app");
	return -EINVAL;
}

/* ---- selectors -------------------------------------------------------------------- */

struct sbuf {
	char *buf;
	size_t len, off;
	bool overflow;
};

static void sb_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (b->overflow)
		return;
	va_start(ap, fmt);
	w = vsnprintf(b->buf + b->off, b->len - b->off, fmt, ap);
	va_end(ap);
	if (w < 0 || (size_t)w >= b->len - b->off) {
		b->overflow = true;
		return;
	}
	b->off += (size_t)w;
}

int target_selector(json_object *workload, char *buf, size_t len, struct kube_err *err)
{
	json_object *sel = kj_get(workload, "spec.selector");
	json_object *labels = kj_get(sel, "matchLabels");
	struct sbuf b = {.buf = buf, .len = len};
	size_t n;

	if (len)
		buf[0] = '\0';
	if (!sel || !json_object_is_type(sel, json_type_object)) {
		kube_err_set(err, "%s has no spec.selector",
			     kj_str(workload, "metadata.name") ?: "the workload");
		return -EINVAL;
	}
	if (labels && json_object_is_type(labels, json_type_object)) {
		json_object_object_foreach(labels, key, val)
		{
			if (!json_object_is_type(val, json_type_string))
				continue;
			sb_add(&b, "%s%s=%s", b.off ? "," : "", key, json_object_get_string(val));
		}
	}
	n = kj_len(sel, "matchExpressions");
	for (size_t i = 0; i < n; i++) {
		json_object *e = kj_idx(sel, "matchExpressions", i);
		const char *key = kj_str(e, "key"), *op = kj_str(e, "operator");
		size_t nv = kj_len(e, "values");

		if (!key || !op)
			continue;
		if (strcmp(op, "Exists") == 0) {
			sb_add(&b, "%s%s", b.off ? "," : "", key);
		} else if (strcmp(op, "DoesNotExist") == 0) {
			sb_add(&b, "%s!%s", b.off ? "," : "", key);
		} else if (strcmp(op, "In") == 0 || strcmp(op, "NotIn") == 0) {
			sb_add(&b, "%s%s %s (", b.off ? "," : "", key,
			       strcmp(op, "In") == 0 ? "in" : "notin");
			for (size_t j = 0; j < nv; j++) {
				json_object *v = kj_idx(e, "values", j);

				sb_add(&b, "%s%s", j ? "," : "",
				       json_object_is_type(v, json_type_string)
					   ? json_object_get_string(v)
					   : "");
			}
			sb_add(&b, ")");
		}
	}
	if (b.overflow) {
		kube_err_set(err, "the workload's selector is too long");
		return -ENOSPC;
	}
	return 0;
}

/* ---- picking pods ------------------------------------------------------------------ */

/* The controller ownerReference of OBJ (NULL if none). */
static json_object *controller_of(json_object *obj)
{
	size_t n = kj_len(obj, "metadata.ownerReferences");

	for (size_t i = 0; i < n; i++) {
		json_object *ref = kj_idx(obj, "metadata.ownerReferences", i);
		json_object *ctl = kj_get(ref, "controller");

		if (ctl && json_object_get_boolean(ctl))
			return ref;
	}
	/* Some generators omit "controller"; a single owner is the controller. */
	return n == 1 ? kj_idx(obj, "metadata.ownerReferences", 0) : NULL;
}

/* Does REF point at OWNER (by uid when both have one, else kind + name)? */
static bool ref_is(json_object *ref, json_object *owner, const char *api_kind)
{
	const char *ruid = kj_str(ref, "uid"), *ouid = kj_str(owner, "metadata.uid");
	const char *rkind = kj_str(ref, "kind"), *rname = kj_str(ref, "name");
	const char *oname = kj_str(owner, "metadata.name");

	if (!ref || !owner)
		return false;
	if (ruid && ouid)
		return strcmp(ruid, ouid) == 0;
	return rkind && rname && oname && strcmp(rkind, api_kind) == 0 && strcmp(rname, oname) == 0;
}

static bool pod_owned(json_object *pod, const struct target_spec *spec, json_object *workload,
		      json_object *rs_list)
{
	json_object *ref = controller_of(pod);
	size_t n;

	if (!ref)
		return false;
	if (spec->kind != TARGET_DEPLOYMENT)
		return ref_is(ref, workload, kind_of(spec->kind)->api_kind);
	/* Deployment -> ReplicaSet -> Pod. */
	n = kj_len(rs_list, "items");
	for (size_t i = 0; i < n; i++) {
		json_object *rs = kj_idx(rs_list, "items", i);

		if (ref_is(controller_of(rs), workload, "Deployment") &&
		    ref_is(ref, rs, "ReplicaSet"))
			return true;
	}
	return false;
}

static bool pod_terminating(json_object *pod)
{
	return kj_get(pod, "metadata.deletionTimestamp") &&
	       !json_object_is_type(kj_get(pod, "metadata.deletionTimestamp"), json_type_null);
}

static bool pod_ready(json_object *pod)
{
	const char *phase = kj_str(pod, "status.phase");
	size_t n = kj_len(pod, "status.conditions");

	if (!phase || strcmp(phase, "Running") != 0 || pod_terminating(pod))
		return false;
	for (size_t i = 0; i < n; i++) {
		json_object *c = kj_idx(pod, "status.conditions", i);
		const char *type = kj_str(c, "type"), *status = kj_str(c, "status");

		if (type && status && strcmp(type, "Ready") == 0)
			return strcmp(status, "True") == 0;
	}
	return false;
}

/* A short word for why a pod is not usable: its phase or "Running but not ready". */
static const char *pod_state(json_object *pod)
{
	const char *phase = kj_str(pod, "status.phase");

	if (pod_terminating(pod))
		return "Terminating";
	if (!phase)
		return "Unknown";
	if (strcmp(phase, "Running") == 0)
		return pod_ready(pod) ? "Ready" : "Running but not ready";
	return phase;
}

static json_object *find_container(json_object *pod, const char *name, size_t *idx)
{
	size_t n = kj_len(pod, "spec.containers");

	for (size_t i = 0; i < n; i++) {
		json_object *c = kj_idx(pod, "spec.containers", i);
		const char *cn = kj_str(c, "name");

		if (cn && strcmp(cn, name) == 0) {
			*idx = i;
			return c;
		}
	}
	return NULL;
}

static void container_names(json_object *pod, char *buf, size_t len)
{
	struct sbuf b = {.buf = buf, .len = len};
	size_t n = kj_len(pod, "spec.containers");

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		sb_add(&b, "%s%s", i ? ", " : "",
		       kj_str(kj_idx(pod, "spec.containers", i), "name") ?: "?");
}

static const char *annotation(json_object *obj, const char *key)
{
	json_object *ann = kj_get(obj, "metadata.annotations"), *v;

	if (!ann || !json_object_is_type(ann, json_type_object) ||
	    !json_object_object_get_ex(ann, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int fill_ports(json_object *container, struct target_pod *tp)
{
	size_t n = kj_len(container, "ports");

	if (!n)
		return 0;
	tp->ports = calloc(n, sizeof(*tp->ports));
	if (!tp->ports)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *p = kj_idx(container, "ports", i);
		long long port = kj_int(p, "containerPort", 0);
		struct target_port *tport = &tp->ports[tp->n_ports];

		if (port < 1 || port > 65535)
			continue;
		tport->port = (uint16_t)port;
		if (cpy(tport->protocol, sizeof(tport->protocol), kj_str(p, "protocol") ?: "TCP") ||
		    cpy(tport->name, sizeof(tport->name), kj_str(p, "name")))
			continue;
		tp->n_ports++;
	}
	return 0;
}

/* "containerd://abc" -> runtime "containerd", id "abc". */
static int split_container_id(const char *s, struct target_pod *tp)
{
	const char *sep = s ? strstr(s, "://") : NULL;

	if (!s)
		return 0;
	if (!sep)
		return cpy(tp->container_id, sizeof(tp->container_id), s);
	if ((size_t)(sep - s) >= sizeof(tp->runtime))
		return -ENAMETOOLONG;
	memcpy(tp->runtime, s, (size_t)(sep - s));
	tp->runtime[sep - s] = '\0';
	return cpy(tp->container_id, sizeof(tp->container_id), sep + 3);
}

static int fill_pod(json_object *pod, const char *want_container, struct target_pod *tp,
		    struct kube_err *err)
{
	const char *cname = want_container && want_container[0] ? want_container : NULL;
	json_object *container;
	size_t idx = 0, n;
	char names[200];
	int ret;

	ret = cpy(tp->name, sizeof(tp->name), kj_str(pod, "metadata.name"));
	if (!ret)
		ret = cpy(tp->uid, sizeof(tp->uid), kj_str(pod, "metadata.uid"));
	if (!ret)
		ret = cpy(tp->node, sizeof(tp->node), kj_str(pod, "spec.nodeName"));
	if (!ret)
		ret = cpy(tp->host_ip, sizeof(tp->host_ip), kj_str(pod, "status.hostIP"));
	if (ret)
		goto bad;
	if (!cname) {
		const char *def = annotation(pod, TARGET_DEFAULT_CONTAINER_ANNOT);

		cname = def && find_container(pod, def, &idx)
			    ? def
			    : kj_str(kj_idx(pod, "spec.containers", 0), "name");
	}
	container = cname ? find_container(pod, cname, &idx) : NULL;
	if (!container) {
		container_names(pod, names, sizeof(names));
		kube_err_set(err, "pod %s has no container '%s'", tp->name, cname ? cname : "");
		kube_err_hint(err, "its containers: %s", names[0] ? names : "(none)");
		return -ENOENT;
	}
	ret = cpy(tp->container, sizeof(tp->container), cname);
	if (ret)
		goto bad;
	/* Pod IPs: status.podIP first, then the other family from status.podIPs. */
	if (kj_str(pod, "status.podIP") && kj_str(pod, "status.podIP")[0]) {
		ret = cpy(tp->pod_ips[0], TARGET_IP_MAX, kj_str(pod, "status.podIP"));
		if (ret)
			goto bad;
		tp->n_pod_ips = 1;
	}
	n = kj_len(pod, "status.podIPs");
	for (size_t i = 0; i < n && tp->n_pod_ips < 2; i++) {
		const char *ip = kj_str(kj_idx(pod, "status.podIPs", i), "ip");

		if (!ip || !ip[0] || (tp->n_pod_ips && strcmp(ip, tp->pod_ips[0]) == 0))
			continue;
		if (cpy(tp->pod_ips[tp->n_pod_ips], TARGET_IP_MAX, ip) == 0)
			tp->n_pod_ips++;
	}
	if (!tp->n_pod_ips) {
		kube_err_set(err, "pod %s has no IP address yet", tp->name);
		return -ENOENT;
	}
	n = kj_len(pod, "status.containerStatuses");
	for (size_t i = 0; i < n; i++) {
		json_object *cs = kj_idx(pod, "status.containerStatuses", i);

		if (kj_str(cs, "name") && strcmp(kj_str(cs, "name"), cname) == 0) {
			ret = split_container_id(kj_str(cs, "containerID"), tp);
			if (ret)
				goto bad;
		}
	}
	if (!tp->container_id[0])
		log_warn("pod %s: container %s has no containerID in its status", tp->name, cname);
	return fill_ports(container, tp);
bad:
	kube_err_set(err, "pod %s has a field too long to handle",
		     kj_str(pod, "metadata.name") ?: "?");
	return ret;
}

/* Counts of pods per state, for the "no ready pod" message. */
struct tally {
	const char *state[8];
	unsigned count[8];
	size_t n;
};

static void tally_add(struct tally *t, const char *state)
{
	for (size_t i = 0; i < t->n; i++) {
		if (strcmp(t->state[i], state) == 0) {
			t->count[i]++;
			return;
		}
	}
	if (t->n < 8) {
		t->state[t->n] = state;
		t->count[t->n++] = 1;
	}
}

static int cmp_pod(const void *a, const void *b)
{
	return strcmp(((const struct target_pod *)a)->name, ((const struct target_pod *)b)->name);
}

static void no_ready_pod(const struct target_spec *spec, const char *ns, json_object *workload,
			 unsigned owned, const struct tally *t, struct kube_err *err)
{
	const char *kind = target_kind_name(spec->kind);
	char states[200];
	struct sbuf b = {.buf = states, .len = sizeof(states)};

	states[0] = '\0';
	for (size_t i = 0; i < t->n; i++)
		sb_add(&b, "%s%u %s", i ? ", " : "", t->count[i], t->state[i]);
	if (spec->kind == TARGET_POD) {
		kube_err_set(err, "pod/%s is not ready (%s)", spec->name, states);
		kube_err_hint(
		    err, "wait until it is ready, or pick another pod: bpfmirror ls -n %s", ns);
	} else if (!owned) {
		kube_err_set(err, "%s/%s has no pods (spec.replicas is %lld)", kind, spec->name,
			     kj_int(workload, "spec.replicas", 1));
		kube_err_hint(err, "scale it up, or wait for its pods to be created");
	} else {
		kube_err_set(err, "%s/%s has no ready pod: %u pod%s, %s", kind, spec->name, owned,
			     owned == 1 ? "" : "s", states);
		kube_err_hint(err, "wait until one is ready (kubectl -n %s get pods)", ns);
	}
}

int target_pick_pods(const struct target_spec *spec, const char *ns, json_object *workload,
		     json_object *rs_list, json_object *pod_list, struct target *out,
		     struct kube_err *err)
{
	size_t n = spec->kind == TARGET_POD ? 1 : kj_len(pod_list, "items");
	struct tally t = {0};
	unsigned owned = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	out->kind = spec->kind;
	ret = cpy(out->name, sizeof(out->name), spec->name);
	if (!ret)
		ret = cpy(out->namespace, sizeof(out->namespace), ns);
	if (ret)
		return ret;
	out->pods = calloc(n ? n : 1, sizeof(*out->pods));
	if (!out->pods)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *pod =
		    spec->kind == TARGET_POD ? workload : kj_idx(pod_list, "items", i);

		if (spec->kind != TARGET_POD && !pod_owned(pod, spec, workload, rs_list))
			continue;
		owned++;
		tally_add(&t, pod_state(pod));
		if (!pod_ready(pod))
			continue;
		ret = fill_pod(pod, spec->container, &out->pods[out->n_pods], err);
		/* Kept for what callers read beyond these fields (volume mounts). */
		out->pods[out->n_pods].object = json_object_get(pod);
		out->n_pods++;
		if (ret)
			goto fail;
	}
	if (!out->n_pods) {
		no_ready_pod(spec, ns, workload, owned, &t, err);
		ret = -ENOENT;
		goto fail;
	}
	qsort(out->pods, out->n_pods, sizeof(*out->pods), cmp_pod);
	return 0;
fail:
	target_clear(out);
	return ret;
}

/* ---- agents ---------------------------------------------------------------------- */

int target_set_agent(struct target_pod *tp, json_object *agent_list, const char *agent_ns,
		     struct kube_err *err)
{
	size_t n = kj_len(agent_list, "items");
	json_object *best = NULL;
	int best_score = 0;
	const char *addr, *port_s;
	long port = TARGET_AGENT_PORT;
	int ret;

	for (size_t i = 0; i < n; i++) {
		json_object *a = kj_idx(agent_list, "items", i);
		const char *node = kj_str(a, "spec.nodeName");
		const char *phase = kj_str(a, "status.phase");
		int score = 1;

		/* The server should have filtered by node already; do not trust it. */
		if (!node || strcmp(node, tp->node) != 0)
			continue;
		if (phase && strcmp(phase, "Running") == 0 && !pod_terminating(a))
			score = pod_ready(a) ? 3 : 2;
		if (score > best_score) {
			best = a;
			best_score = score;
		}
	}
	if (!best) {
		kube_err_set(err, "no bpfmirror agent runs on node %s (for pod %s)", tp->node,
			     tp->name);
		kube_err_hint(err,
			      "install the chart: docs/install.md (looked for pods labelled %s "
			      "in namespace %s)",
			      TARGET_AGENT_LABEL, agent_ns);
		return -ENOENT;
	}
	if (best_score < 2) {
		kube_err_set(err, "the bpfmirror agent on node %s (pod %s/%s) is not running (%s)",
			     tp->node, agent_ns, kj_str(best, "metadata.name") ?: "?",
			     pod_state(best));
		kube_err_hint(err, "check it with: kubectl -n %s describe pod %s", agent_ns,
			      kj_str(best, "metadata.name") ?: "");
		return -EHOSTDOWN;
	}
	if (best_score == 2)
		log_warn("the bpfmirror agent on node %s is running but not ready", tp->node);
	addr = kj_str(best, "status.podIP");
	if (!addr || !addr[0])
		addr = kj_str(best, "status.hostIP");
	port_s = annotation(best, TARGET_AGENT_PORT_ANNOT);
	if (port_s) {
		char *end;

		port = strtol(port_s, &end, 10);
		if (*end || port < 1 || port > 65535) {
			kube_err_set(err, "agent pod %s has a bad %s annotation '%s'",
				     kj_str(best, "metadata.name") ?: "?", TARGET_AGENT_PORT_ANNOT,
				     port_s);
			return -EINVAL;
		}
	}
	ret = cpy(tp->agent.pod, sizeof(tp->agent.pod), kj_str(best, "metadata.name"));
	if (!ret)
		ret = cpy(tp->agent.namespace, sizeof(tp->agent.namespace), agent_ns);
	if (!ret)
		ret = cpy(tp->agent.address, sizeof(tp->agent.address), addr);
	if (ret || !addr || !addr[0]) {
		kube_err_set(err, "the bpfmirror agent on node %s has no usable address", tp->node);
		return ret ? ret : -EADDRNOTAVAIL;
	}
	tp->agent.port = (uint16_t)port;
	tp->has_agent = true;
	return 0;
}

/* ---- did you mean ---------------------------------------------------------------- */

size_t target_edit_distance(const char *a, const char *b)
{
	size_t la = strnlen(a, 253), lb = strnlen(b, 253);
	size_t row[254];

	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

int target_suggest(const char *name, json_object *list, char *buf, size_t len)
{
	size_t n = kj_len(list, "items"), nlen = strlen(name);
	size_t limit = nlen / 3 > 2 ? nlen / 3 : 2;
	size_t best_d = (size_t)-1, best_prefix = (size_t)-1;
	const char *best = NULL, *prefix = NULL;

	for (size_t i = 0; i < n; i++) {
		const char *c = kj_str(kj_idx(list, "items", i), "metadata.name");
		size_t d;

		if (!c)
			continue;
		d = target_edit_distance(name, c);
		if (d < best_d) {
			best_d = d;
			best = c;
		}
		/* Pods of a workload are named after it: "web" finds "web-7d9c-x2". */
		if (nlen && strncmp(c, name, nlen) == 0 && strlen(c) < best_prefix) {
			best_prefix = strlen(c);
			prefix = c;
		}
	}
	if (best && best_d <= limit)
		return cpy(buf, len, best) ? -ENOENT : 0;
	if (prefix)
		return cpy(buf, len, prefix) ? -ENOENT : 1;
	return -ENOENT;
}

/* ---- through the API ------------------------------------------------------------- */

/* Lists KIND in NS and looks for a name near NAME: target_suggest()'s result. */
static int suggest_in(struct kube_client *c, const struct kind_info *k, const char *ns,
		      const char *name, char *buf, size_t len)
{
	struct kube_err ignored;
	json_object *list = NULL;
	int ret;

	ret = kube_list(c, k->group_version, ns, k->resource, NULL, NULL, &list, &ignored);
	if (!ret)
		ret = target_suggest(name, list, buf, len);
	json_object_put(list);
	return ret;
}

/*
 * Fills ERR for a target that does not exist, with the nearest name. For a
 * pod the workloads are searched too, since people type the deployment's
 * name: an exact workload name first, then a close name of the same kind, a
 * close workload name, a workload and last a pod whose name starts with it.
 */
static void not_found(struct kube_client *c, const struct target_spec *spec, const char *ns,
		      struct kube_err *err)
{
	const struct kind_info *k = kind_of(spec->kind);
	const struct kind_info *other = NULL;
	char same_name[TARGET_NAME_MAX], other_name[TARGET_NAME_MAX];
	int same, best_other = -ENOENT;

	kube_err_set(err, "%s '%s' not found in namespace '%s'", k->name, spec->name, ns);
	for (size_t i = 1; spec->kind == TARGET_POD && i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		char near[TARGET_NAME_MAX];
		int r = suggest_in(c, &kinds[i], ns, spec->name, near, sizeof(near));

		if (r < 0 || (best_other >= 0 && r >= best_other))
			continue;
		best_other = r;
		other = &kinds[i];
		memcpy(other_name, near, sizeof(near));
		if (r == 0 && strcmp(near, spec->name) == 0)
			break;
	}
	same = suggest_in(c, k, ns, spec->name, same_name, sizeof(same_name));
	if (other && best_other == 0 && strcmp(other_name, spec->name) == 0)
		kube_err_hint(err, "did you mean %s/%s?", other->name, other_name);
	else if (same == 0)
		kube_err_hint(err, "did you mean %s/%s?", k->name, same_name);
	else if (other)
		kube_err_hint(err, "did you mean %s/%s?", other->name, other_name);
	else if (same == 1)
		kube_err_hint(err, "did you mean %s/%s?", k->name, same_name);
	else
		kube_err_hint(err, "list what can be attached with: bpfmirror ls -n %s", ns);
}

static int resolve_agents(struct kube_client *c, struct target *t, const char *agent_ns,
			  struct kube_err *err)
{
	char field[TARGET_NAME_MAX + 16];
	int ret = 0;

	for (size_t i = 0; i < t->n_pods && !ret; i++) {
		struct target_pod *tp = &t->pods[i];
		json_object *list = NULL;

		/* Replicas on one node share its agent: ask once. */
		for (size_t j = 0; j < i; j++) {
			if (strcmp(t->pods[j].node, tp->node) == 0) {
				tp->agent = t->pods[j].agent;
				tp->has_agent = true;
				break;
			}
		}
		if (tp->has_agent)
			continue;
		if (!tp->node[0]) {
			kube_err_set(err, "pod %s is not scheduled on a node", tp->name);
			return -ENOENT;
		}
		snprintf(field, sizeof(field), "spec.nodeName=%s", tp->node);
		ret = kube_list(c, "v1", agent_ns, "pods", TARGET_AGENT_LABEL, field, &list, err);
		if (ret == -EPERM)
			kube_err_hint(err,
				      "bpfmirror needs to list pods in namespace %s to find "
				      "the node agents",
				      agent_ns);
		if (!ret)
			ret = target_set_agent(tp, list, agent_ns, err);
		json_object_put(list);
	}
	return ret;
}

int target_resolve_pods(struct kube_client *c, const struct target_spec *spec, const char *ns,
			struct target *out, struct kube_err *err)
{
	const struct kind_info *k = kind_of(spec->kind);
	json_object *obj = NULL, *pods = NULL, *rs = NULL;
	char sel[4096];
	int ret;

	memset(out, 0, sizeof(*out));
	ret = kube_get_object(c, k->group_version, ns, k->resource, spec->name, &obj, err);
	if (ret == -ENOENT)
		not_found(c, spec, ns, err);
	if (ret)
		goto out;
	if (spec->kind != TARGET_POD) {
		ret = target_selector(obj, sel, sizeof(sel), err);
		if (!ret)
			ret = kube_list(c, "v1", ns, "pods", sel[0] ? sel : NULL, NULL, &pods, err);
		if (!ret && spec->kind == TARGET_DEPLOYMENT)
			ret = kube_list(c, "apps/v1", ns, "replicasets", sel[0] ? sel : NULL, NULL,
					&rs, err);
		if (ret)
			goto out;
	}
	ret = target_pick_pods(spec, ns, obj, rs, pods, out, err);
out:
	json_object_put(rs);
	json_object_put(pods);
	json_object_put(obj);
	return ret;
}

int target_resolve(struct kube_client *c, const struct target_spec *spec, const char *ns,
		   const char *agent_ns, struct target *out, struct kube_err *err)
{
	int ret;

	if (!agent_ns || !agent_ns[0])
		agent_ns = getenv("BPFMIRROR_AGENT_NAMESPACE");
	if (!agent_ns || !agent_ns[0])
		agent_ns = TARGET_AGENT_NAMESPACE;
	ret = target_resolve_pods(c, spec, ns, out, err);
	if (!ret)
		ret = resolve_agents(c, out, agent_ns, err);
	if (ret)
		target_clear(out);
	return ret;
}

/* ---- output ---------------------------------------------------------------------- */

static json_object *pod_to_json(const struct target_pod *tp)
{
	json_object *o = json_object_new_object(), *ips = json_object_new_array();
	json_object *ports = json_object_new_array();

	json_object_object_add(o, "name", json_object_new_string(tp->name));
	json_object_object_add(o, "uid", json_object_new_string(tp->uid));
	json_object_object_add(o, "node", json_object_new_string(tp->node));
	json_object_object_add(o, "hostIP", json_object_new_string(tp->host_ip));
	for (size_t i = 0; i < tp->n_pod_ips; i++)
		json_object_array_add(ips, json_object_new_string(tp->pod_ips[i]));
	json_object_object_add(o, "podIPs", ips);
	json_object_object_add(o, "container", json_object_new_string(tp->container));
	json_object_object_add(o, "containerID", json_object_new_string(tp->container_id));
	json_object_object_add(o, "runtime", json_object_new_string(tp->runtime));
	for (size_t i = 0; i < tp->n_ports; i++) {
		json_object *p = json_object_new_object();

		json_object_object_add(p, "name", json_object_new_string(tp->ports[i].name));
		json_object_object_add(p, "port", json_object_new_int(tp->ports[i].port));
		json_object_object_add(p, "protocol",
				       json_object_new_string(tp->ports[i].protocol));
		json_object_array_add(ports, p);
	}
	json_object_object_add(o, "ports", ports);
	if (tp->has_agent) {
		json_object *a = json_object_new_object();

		json_object_object_add(a, "pod", json_object_new_string(tp->agent.pod));
		json_object_object_add(a, "namespace", json_object_new_string(tp->agent.namespace));
		json_object_object_add(a, "address", json_object_new_string(tp->agent.address));
		json_object_object_add(a, "port", json_object_new_int(tp->agent.port));
		json_object_object_add(o, "agent", a);
	}
	return o;
}

json_object *target_to_json(const struct target *t)
{
	json_object *o = json_object_new_object(), *pods = json_object_new_array();
	char ref[2 * TARGET_NAME_MAX];

	snprintf(ref, sizeof(ref), "%s/%s", target_kind_name(t->kind), t->name);
	json_object_object_add(o, "target", json_object_new_string(ref));
	json_object_object_add(o, "kind", json_object_new_string(target_kind_name(t->kind)));
	json_object_object_add(o, "name", json_object_new_string(t->name));
	json_object_object_add(o, "namespace", json_object_new_string(t->namespace));
	for (size_t i = 0; i < t->n_pods; i++)
		json_object_array_add(pods, pod_to_json(&t->pods[i]));
	json_object_object_add(o, "pods", pods);
	return o;
}

void target_clear(struct target *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_pods; i++) {
		free(t->pods[i].ports);
		json_object_put(t->pods[i].object);
	}
	free(t->pods);
	t->pods = NULL;
	t->n_pods = 0;
}
