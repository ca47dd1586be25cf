/* One client session of the agent: handshake, attach, packets both ways, files, detach. */
#include "agent_priv.h"
#include "container.h"
#include "datapath.h"
#include "fsconfine.h"
#include "httpfilter.h"
#include "l7steer.h"
#include "log.h"
#include "podlink.h"
#include "podveth.h"
#include "portrange.h"
#include "wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SESSION_MAX_PORTS  32
#define BATCH_MAX_PACKETS  256
#define BATCH_MAX_BYTES	   (1u << 20)
#define DEFAULT_RANGE_SIZE 2048u
#define RESOLV_MAX	   (64u << 10)
#define WRITER_QUEUE_LIMIT (32u << 20)

enum session_state {
	S_HELLO = 0, /* waiting for Hello */
	S_READY,     /* handshake done, not attached */
	S_ATTACHED,
};

/*
 * A port of the session. A steal is claimed at attach (so a second whole-
 * connection steal of that pod port is refused at once) but active in the
 * data plane only while the developer's process listens: the CLI sends
 * Subscribe/Unsubscribe as its listener comes and goes.
 */
struct sub {
	uint16_t port;
	enum datapath_mode mode;
	bool active;
};

struct session {
	struct agent *ag;
	struct session *next;
	int fd;
	uint32_t id;
	enum session_state state;
	struct frame_reader *rd;
	struct frame_writer *wr;
	struct ev_timer *hb_timer;
	int64_t last_rx_ms;
	char identity[128];
	char peer[64];
	bool zlib; /* peer accepts compressed packet batches */

	/* attach */
	char ns[254];
	char pod_ip_str[INET6_ADDRSTRLEN];
	struct datapath_ip pod_ip;
	int ifindex;
	pid_t pid;
	int root_fd;
	struct port_range range;
	bool range_held;
	struct sub subs[SESSION_MAX_PORTS];
	size_t nsubs;
	/* filtered steal (agent/l7steer.h) */
	char filter_header[HTTPFILTER_MAX_REGEX + 1];
	char filter_path[HTTPFILTER_MAX_REGEX + 1];

	/* outgoing packet batch */
	Bpfmirror__Packet pkts[BATCH_MAX_PACKETS];
	Bpfmirror__Packet *pkt_ptrs[BATCH_MAX_PACKETS];
	uint8_t *pkt_data[BATCH_MAX_PACKETS];
	size_t npkts;
	size_t batch_bytes;
};

static void on_session_io(struct evloop *loop, int fd, unsigned events, void *ctx);

unsigned agent_session_count(const struct agent *ag)
{
	unsigned n = 0;

	for (const struct session *s = ag->sessions; s; s = s->next)
		n++;
	return n;
}

unsigned agent_subscription_count(const struct agent *ag)
{
	unsigned n = 0;

	for (const struct session *s = ag->sessions; s; s = s->next)
		for (size_t i = 0; i < s->nsubs; i++)
			n += s->subs[i].active;
	return n;
}

static struct session *find_session(struct agent *ag, uint32_t id)
{
	for (struct session *s = ag->sessions; s; s = s->next)
		if (s->id == id)
			return s;
	return NULL;
}

/* Arms EPOLLOUT only while the writer holds bytes. */
static void update_interest(struct session *s)
{
	unsigned ev = EV_READ | (frame_writer_pending(s->wr) ? EV_WRITE : 0);

	evloop_watch(s->ag->loop, s->fd, ev, on_session_io, s);
}

static int send_frame(struct session *s, Bpfmirror__Frame *f)
{
	int err = wire_send(s->wr, f);

	if (err)
		return err;
	s->ag->ctr.frames_out++;
	err = frame_writer_flush(s->wr, s->fd);
	if (err < 0)
		return err;
	update_interest(s);
	return 0;
}

static int send_error(struct session *s, uint64_t req, Bpfmirror__Error__Code code, bool fatal,
		      const char *msg)
{
	Bpfmirror__Frame f;
	Bpfmirror__Error e;

	wire_error_init(&f, &e, req, code, fatal, msg);
	log_warn("session %u (%s): %s: %s", s->id, s->identity[0] ? s->identity : s->peer,
		 wire_error_code_name(code), msg);
	return send_frame(s, &f);
}

static int send_ack(struct session *s, uint64_t req)
{
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT;
	Bpfmirror__Ack ack = BPFMIRROR__ACK__INIT;

	f.request_id = req;
	f.body_case = BPFMIRROR__FRAME__BODY_ACK;
	f.ack = &ack;
	return send_frame(s, &f);
}

/* ---- streams of filtered steal (agent/l7steer.c) ------------------------- */

/* Queues a Stream* frame; never closes the session here (the caller is inside a router). */
int session_stream_send(struct agent *ag, uint32_t sid, Bpfmirror__Frame *f)
{
	struct session *s = find_session(ag, sid);
	int err;

	if (!s || s->state != S_ATTACHED)
		return -ENOTCONN;
	err = wire_send(s->wr, f);
	if (err)
		return err;
	s->ag->ctr.frames_out++;
	if (frame_writer_flush(s->wr, s->fd) < 0)
		return -EPIPE; /* the next EV_WRITE ends the session */
	update_interest(s);
	return 0;
}

size_t session_stream_queued(struct agent *ag, uint32_t sid)
{
	struct session *s = find_session(ag, sid);

	return s ? frame_writer_queued(s->wr) : 0;
}

/* ---- teardown ----------------------------------------------------------- */

static void batch_clear(struct session *s)
{
	for (size_t i = 0; i < s->npkts; i++)
		free(s->pkt_data[i]);
	s->npkts = 0;
	s->batch_bytes = 0;
}

static void release_dataplane(struct session *s)
{
	struct datapath *dp = s->ag->dp;

	if (s->ag->l7 && s->state == S_ATTACHED)
		l7steer_session_gone(s->ag->l7, s->id);
	if (dp && s->state == S_ATTACHED) {
		datapath_session_end(dp, s->id);
		if (s->ifindex > 0)
			datapath_release_pod(dp, s->ifindex);
	}
	s->ifindex = 0;
	s->nsubs = 0;
	s->range_held = false;
}

void session_close(struct session *s, const char *why)
{
	struct agent *ag = s->ag;

	log_info("session %u (%s) closed: %s", s->id, s->identity[0] ? s->identity : s->peer, why);
	/* Subscriptions end first, so new connections go to the pod at once. */
	release_dataplane(s);
	for (struct session **pp = &ag->sessions; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	evloop_timer_cancel(ag->loop, s->hb_timer);
	evloop_unwatch(ag->loop, s->fd);
	close(s->fd);
	if (s->root_fd >= 0)
		close(s->root_fd);
	batch_clear(s);
	frame_reader_free(s->rd);
	frame_writer_free(s->wr);
	free(s);
}

/* Sends a fatal error and ends the session. */
static void session_fail(struct session *s, uint64_t req, Bpfmirror__Error__Code code,
			 const char *msg)
{
	s->ag->ctr.sessions_failed++;
	send_error(s, req, code, true, msg);
	/* Best effort: the error frame goes out if the socket takes it now. */
	frame_writer_flush(s->wr, s->fd);
	session_close(s, msg);
}

/* ---- handshake ---------------------------------------------------------- */

static int on_hello(struct session *s, const Bpfmirror__Frame *f)
{
	static char *caps[] = {BPFMIRROR_CAP_MIRROR,	     BPFMIRROR_CAP_STEAL,
			       BPFMIRROR_CAP_FILTERED_STEAL, BPFMIRROR_CAP_FILES,
			       BPFMIRROR_CAP_OUTGOING,	     BPFMIRROR_CAP_PACKET_ZLIB};
	Bpfmirror__Frame r = BPFMIRROR__FRAME__INIT;
	Bpfmirror__HelloReply hr = BPFMIRROR__HELLO_REPLY__INIT;
	const Bpfmirror__Hello *h = f->hello;
	char msg[160];
	int err = wire_check_hello(f);

	if (err == -EPROTONOSUPPORT) {
		snprintf(msg, sizeof(msg),
			 "protocol version %u is not supported (this agent speaks %u)",
			 h->protocol_version, BPFMIRROR_PROTOCOL_VERSION);
		session_fail(s, f->request_id, BPFMIRROR__ERROR__CODE__CODE_UNSUPPORTED_VERSION,
			     msg);
		return -EPROTONOSUPPORT;
	}
	snprintf(s->identity, sizeof(s->identity), "%s", h->client_identity);
	s->zlib =
	    wire_has_capability(h->capabilities, h->n_capabilities, BPFMIRROR_CAP_PACKET_ZLIB);
	s->state = S_READY;
	log_info("session %u: hello from %s (%s, client %s)", s->id, s->identity, s->peer,
		 h->client_version);
	r.request_id = f->request_id;
	r.body_case = BPFMIRROR__FRAME__BODY_HELLO_REPLY;
	r.hello_reply = &hr;
	hr.protocol_version = BPFMIRROR_PROTOCOL_VERSION;
	hr.capabilities = caps;
	hr.n_capabilities = sizeof(caps) / sizeof(caps[0]);
	hr.node_name = s->ag->node_name;
	hr.agent_version = (char *)BPFMIRROR_VERSION;
	return send_frame(s, &r);
}

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

static int on_attach(struct session *s, const Bpfmirror__Frame *f)
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
		return send_error(s, f->request_id, BPFMIRROR__ERROR__CODE__CODE_UNEXPECTED_MESSAGE,
				  false, msg);
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
	fsc_read(s->root_fd, "/etc/resolv.conf", 0, RESOLV_MAX, &resolv, &resolv_len);
	if (s->ag->dp) {
		err = podlink_lookup(&s->pod_ip, &s->ifindex, &node_src);
		/* A bridge CNI routes to the bridge; pods talk through its veth ports. */
		if (!err && s->pod_ip.family == AF_INET &&
		    podveth_lookup(s->ag->opts.proc_root, s->pid, s->pod_ip_str, &veth) == 0 &&
		    veth != s->ifindex && if_indextoname((unsigned)veth, ifname))
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
	s->state = S_ATTACHED; /* from here on release_dataplane() undoes everything */
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
	err = send_frame(s, &r);
	goto out;

fail_attached:
	release_dataplane(s);
fail:
	s->ag->ctr.attach_errors++;
	s->state = S_READY;
	if (s->root_fd >= 0)
		close(s->root_fd);
	s->root_fd = -1;
	err = send_error(s, f->request_id, code, false, msg);
out:
	free(kvs);
	free(kvp);
	free(resolv);
	container_env_free(&env);
	return err;
}

static int on_subscribe(struct session *s, const Bpfmirror__Frame *f, bool add)
{
	uint32_t port = add ? f->subscribe->port : f->unsubscribe->port;
	struct sub *sub;
	char msg[256];
	int err = 0;

	if (s->state != S_ATTACHED)
		return send_error(s, f->request_id, BPFMIRROR__ERROR__CODE__CODE_UNEXPECTED_MESSAGE,
				  false, "subscribe: attach first");
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
				return send_error(s, f->request_id,
						  BPFMIRROR__ERROR__CODE__CODE_INVALID_ARGUMENT,
						  false, "subscribe: attach with the HTTP filter");
			mode = DATAPATH_FILTERED;
		}
		if (mode == DATAPATH_STEAL &&
		    policy_check_attach(s->ag->policy, s->ns, POLICY_STEAL, NULL, NULL, why,
					sizeof(why))) {
			return send_error(s, f->request_id,
					  BPFMIRROR__ERROR__CODE__CODE_PERMISSION_DENIED, false,
					  why);
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
		return send_error(s, f->request_id,
				  err == -EBUSY ? BPFMIRROR__ERROR__CODE__CODE_CONFLICT
						: BPFMIRROR__ERROR__CODE__CODE_INVALID_ARGUMENT,
				  false, msg);
	}
	return send_ack(s, f->request_id);
}

/* ---- packets from the client ------------------------------------------- */

/*
 * A client may only emit packets as its pod: source address = the pod IP and,
 * for TCP/UDP, source port = one of its stolen ports (replies of stolen flows)
 * or a port of its reserved range (the twin's outgoing traffic).
 */
static bool packet_allowed(const struct session *s, const uint8_t *p, size_t len)
{
	size_t ihl;
	uint16_t sport, tot;

	if (s->pod_ip.family != AF_INET || len < 20 || (p[0] >> 4) != 4)
		return false;
	ihl = (size_t)(p[0] & 0x0f) * 4;
	tot = (uint16_t)(p[2] << 8 | p[3]);
	if (ihl < 20 || tot != len || len < ihl + 4)
		return false;
	if (memcmp(p + 12, &s->pod_ip.u.v4, 4) != 0)
		return false;
	if (p[9] != IPPROTO_TCP && p[9] != IPPROTO_UDP)
		return p[9] == IPPROTO_ICMP;
	if ((p[6] & 0x3f) || p[7]) /* fragments carry no ports to check */
		return false;
	sport = (uint16_t)(p[ihl] << 8 | p[ihl + 1]);
	if (sport >= s->range.lo && sport <= s->range.hi)
		return true;
	for (size_t i = 0; i < s->nsubs; i++)
		/* Claimed, not only active: replies of stolen flows may trail an
		 * Unsubscribe. */
		if (s->subs[i].mode == DATAPATH_STEAL && s->subs[i].port == sport &&
		    p[9] == IPPROTO_TCP)
			return true;
	return false;
}

static int on_packets(struct session *s, const Bpfmirror__Frame *f)
{
	Bpfmirror__PacketBatch *b = f->packet_batch, *plain = NULL;
	int err;

	if (s->state != S_ATTACHED)
		return send_error(s, 0, BPFMIRROR__ERROR__CODE__CODE_UNEXPECTED_MESSAGE, false,
				  "packets before attach");
	if (b->compressed) {
		err = wire_batch_decompress(b, BPFMIRROR_INFLATE_MAX, &plain);
		if (err) {
			s->ag->ctr.frame_errors++;
			return send_error(s, 0, BPFMIRROR__ERROR__CODE__CODE_MALFORMED_FRAME, false,
					  "packet batch does not inflate");
		}
		b = plain;
	}
	for (size_t i = 0; i < b->n_packets; i++) {
		const ProtobufCBinaryData *d = &b->packets[i]->data;
		s->ag->ctr.packets_from_client++;
		if (!packet_allowed(s, d->data, d->len)) {
			s->ag->ctr.packets_rejected++;
			continue;
		}
		if (!s->ag->dp)
			continue;
		err = datapath_inject(s->ag->dp, d->data, d->len);
		if (err)
			s->ag->ctr.inject_errors++;
		else
			s->ag->ctr.packets_injected++;
	}
	if (plain)
		wire_batch_free(plain);
	return 0;
}

/* ---- packets to the client ---------------------------------------------- */

static int batch_flush(struct session *s)
{
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT;
	Bpfmirror__PacketBatch b = BPFMIRROR__PACKET_BATCH__INIT;
	Bpfmirror__PacketBatch z = BPFMIRROR__PACKET_BATCH__INIT;
	size_t n = s->npkts;
	int err;

	if (!n)
		return 0;
	b.packets = s->pkt_ptrs;
	b.n_packets = n;
	f.body_case = BPFMIRROR__FRAME__BODY_PACKET_BATCH;
	f.packet_batch = &b;
	err = wire_send(s->wr, &f);
	(void)z;
	if (err == -ENOBUFS) {
		/* The client reads slower than its pod receives: drop, count. */
		s->ag->ctr.packets_backlog_drop += n;
		err = 0;
	} else if (!err) {
		s->ag->ctr.frames_out++;
		s->ag->ctr.packets_to_client += n;
		s->ag->ctr.bytes_to_client += s->batch_bytes;
	}
	batch_clear(s);
	if (!err) {
		err = frame_writer_flush(s->wr, s->fd);
		if (err > 0)
			err = 0;
		update_interest(s);
	}
	return err;
}

static void batch_add(struct session *s, const struct datapath_pkt *pkt)
{
	Bpfmirror__Packet *p;
	uint8_t *copy;

	if (s->npkts == BATCH_MAX_PACKETS || s->batch_bytes + pkt->len > BATCH_MAX_BYTES) {
		if (batch_flush(s) < 0) {
			s->ag->ctr.packets_backlog_drop++;
			return;
		}
	}
	copy = malloc(pkt->len ? pkt->len : 1);
	if (!copy) {
		s->ag->ctr.packets_backlog_drop++;
		return;
	}
	memcpy(copy, pkt->data, pkt->len);
	p = &s->pkts[s->npkts];
	bpfmirror__packet__init(p);
	p->data.data = copy;
	p->data.len = pkt->len;
	p->direction = pkt->hdr->dir == BM_DIR_TO_POD
			   ? BPFMIRROR__PACKET__DIRECTION__DIRECTION_INGRESS
			   : BPFMIRROR__PACKET__DIRECTION__DIRECTION_EGRESS;
	p->flags = pkt->hdr->flags;
	p->reason = pkt->hdr->reason;
	p->timestamp_ns = pkt->hdr->tstamp_ns;
	s->pkt_ptrs[s->npkts] = p;
	s->pkt_data[s->npkts] = copy;
	s->npkts++;
	s->batch_bytes += pkt->len;
}

int session_deliver_packet(struct agent *ag, const void *opaque)
{
	const struct datapath_pkt *pkt = opaque;

	for (unsigned i = 0; i < BM_MAX_SESSIONS; i++) {
		struct session *s;
		if (!pkt->hdr->sessions[i])
			continue;
		s = find_session(ag, pkt->hdr->sessions[i]);
		if (s && s->state == S_ATTACHED)
			batch_add(s, pkt);
	}
	return 0;
}

void session_flush_all(struct agent *ag)
{
	struct session *s = ag->sessions, *next;

	for (; s; s = next) {
		next = s->next;
		if (batch_flush(s) < 0)
			session_close(s, "connection lost while sending packets");
	}
}

/* ---- files -------------------------------------------------------------- */

static void stat_to_wire(const struct stat *st, Bpfmirror__FileStat *fs)
{
	fs->mode = st->st_mode;
	fs->size = (uint64_t)st->st_size;
	fs->uid = st->st_uid;
	fs->gid = st->st_gid;
	fs->mtime_sec = st->st_mtim.tv_sec;
	fs->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	fs->nlink = (uint32_t)st->st_nlink;
}

static int on_file(struct session *s, const Bpfmirror__Frame *f)
{
	const Bpfmirror__FileRequest *q = f->file_request;
	Bpfmirror__Frame r = BPFMIRROR__FRAME__INIT;
	Bpfmirror__FileReply fr = BPFMIRROR__FILE_REPLY__INIT;
	Bpfmirror__FileStat fst = BPFMIRROR__FILE_STAT__INIT;
	Bpfmirror__DirEntry *ents = NULL, **entp = NULL;
	struct fsc_entry *list = NULL;
	size_t nlist = 0, len = 0;
	uint8_t *raw = NULL;
	char *data = NULL;
	struct stat st;
	int err;

	s->ag->ctr.file_requests++;
	if (s->state != S_ATTACHED)
		return send_error(s, f->request_id, BPFMIRROR__ERROR__CODE__CODE_UNEXPECTED_MESSAGE,
				  false, "file request before attach");
	err = fsc_path_check(q->path, NULL);
	if (!err && !policy_path_allowed(s->ag->policy, q->path))
		err = -EACCES;
	if (err == -EACCES)
		s->ag->ctr.file_denied++;
	if (err)
		goto reply;
	switch (q->op) {
	case BPFMIRROR__FILE_REQUEST__OP__OP_STAT:
		err = fsc_stat(s->root_fd, q->path, &st);
		break;
	case BPFMIRROR__FILE_REQUEST__OP__OP_READ:
		err = fsc_read(s->root_fd, q->path, q->offset, (size_t)q->length, &data, &len);
		if (!err)
			err = fsc_stat(s->root_fd, q->path, &st);
		if (!err) {
			fr.eof = q->offset + len >= (uint64_t)st.st_size;
			fr.raw_len = (uint32_t)len;
			if (len > 256 && wire_deflate(data, len, 6, &raw, &fr.data.len) == 0 &&
			    fr.data.len < len) {
				fr.data.data = raw;
				fr.compressed = true;
			} else {
				fr.data.data = (uint8_t *)data;
				fr.data.len = len;
			}
		}
		break;
	case BPFMIRROR__FILE_REQUEST__OP__OP_LIST:
		err = fsc_list(s->root_fd, q->path, &list, &nlist);
		if (!err) {
			ents = calloc(nlist + 1, sizeof(*ents));
			entp = calloc(nlist + 1, sizeof(*entp));
			if (!ents || !entp) {
				err = -ENOMEM;
				break;
			}
			for (size_t i = 0; i < nlist; i++) {
				bpfmirror__dir_entry__init(&ents[i]);
				ents[i].name = list[i].name;
				entp[i] = &ents[i];
			}
			fr.entries = entp;
			fr.n_entries = nlist;
		}
		err = err ? err : fsc_stat(s->root_fd, q->path, &st);
		break;
	case BPFMIRROR__FILE_REQUEST__OP__OP_WRITE: {
		const uint8_t *wd = q->data.data;
		size_t wl = q->data.len;
		if (q->compressed) {
			err = wire_inflate(q->data.data, q->data.len, BPFMIRROR_INFLATE_MAX, &raw,
					   &wl);
			if (err)
				break;
			wd = raw;
		}
		err = fsc_write(s->root_fd, q->path, q->offset, wd, wl, 1);
		fr.written = err ? 0 : wl;
		err = err ? err : fsc_stat(s->root_fd, q->path, &st);
		break;
	}
	default:
		err = -EINVAL;
	}
	if (!err) {
		stat_to_wire(&st, &fst);
		fr.stat = &fst;
	}
reply:
	fr.errnum = -err;
	r.request_id = f->request_id;
	r.body_case = BPFMIRROR__FRAME__BODY_FILE_REPLY;
	r.file_reply = &fr;
	err = send_frame(s, &r);
	free(ents);
	free(entp);
	if (list)
		fsc_entries_free(list, nlist);
	free(data);
	free(raw);
	return err;
}

/* ---- dispatch ----------------------------------------------------------- */

static int on_heartbeat(struct session *s, const Bpfmirror__Frame *f)
{
	Bpfmirror__Frame r = BPFMIRROR__FRAME__INIT;
	Bpfmirror__Heartbeat hb = BPFMIRROR__HEARTBEAT__INIT;

	if (!f->request_id)
		return 0; /* an answer to ours */
	hb.seq = f->heartbeat->seq;
	hb.timestamp_ns = evloop_now_ns();
	r.request_id = f->request_id;
	r.body_case = BPFMIRROR__FRAME__BODY_HEARTBEAT;
	r.heartbeat = &hb;
	return send_frame(s, &r);
}

/* Returns 0 to go on, 1 when the session was closed. */
static int dispatch(struct session *s, const Bpfmirror__Frame *f)
{
	const char *why = NULL;
	char msg[160];
	int err;

	if (wire_validate(f, &why)) {
		snprintf(msg, sizeof(msg), "invalid %s: %s", wire_body_name(f->body_case), why);
		s->ag->ctr.frame_errors++;
		session_fail(s, f->request_id, BPFMIRROR__ERROR__CODE__CODE_INVALID_ARGUMENT, msg);
		return 1;
	}
	if (s->state == S_HELLO && f->body_case != BPFMIRROR__FRAME__BODY_HELLO) {
		snprintf(msg, sizeof(msg), "expected hello, got %s", wire_body_name(f->body_case));
		session_fail(s, f->request_id, BPFMIRROR__ERROR__CODE__CODE_UNEXPECTED_MESSAGE,
			     msg);
		return 1;
	}
	switch (f->body_case) {
	case BPFMIRROR__FRAME__BODY_HELLO:
		if (s->state != S_HELLO) {
			err = send_error(s, f->request_id,
					 BPFMIRROR__ERROR__CODE__CODE_UNEXPECTED_MESSAGE, false,
					 "hello: handshake already done");
			break;
		}
		err = on_hello(s, f);
		if (err == -EPROTONOSUPPORT)
			return 1;
		break;
	case BPFMIRROR__FRAME__BODY_ATTACH_REQUEST:
		err = on_attach(s, f);
		break;
	case BPFMIRROR__FRAME__BODY_SUBSCRIBE:
		err = on_subscribe(s, f, true);
		break;
	case BPFMIRROR__FRAME__BODY_UNSUBSCRIBE:
		err = on_subscribe(s, f, false);
		break;
	case BPFMIRROR__FRAME__BODY_PACKET_BATCH:
		err = on_packets(s, f);
		break;
	case BPFMIRROR__FRAME__BODY_FILE_REQUEST:
		err = on_file(s, f);
		break;
	case BPFMIRROR__FRAME__BODY_STREAM_DATA:
	case BPFMIRROR__FRAME__BODY_STREAM_HALF_CLOSE:
	case BPFMIRROR__FRAME__BODY_STREAM_CLOSE:
		if (s->state == S_ATTACHED && s->ag->l7)
			l7steer_on_frame(s->ag->l7, s->id, f);
		err = 0;
		break;
	case BPFMIRROR__FRAME__BODY_HEARTBEAT:
		err = on_heartbeat(s, f);
		break;
	case BPFMIRROR__FRAME__BODY_DETACH:
		send_ack(s, f->request_id);
		frame_writer_flush(s->wr, s->fd);
		session_close(s, f->detach->reason[0] ? f->detach->reason : "detached");
		return 1;
	default:
		snprintf(msg, sizeof(msg), "unexpected %s from a client",
			 wire_body_name(f->body_case));
		session_fail(s, f->request_id, BPFMIRROR__ERROR__CODE__CODE_UNEXPECTED_MESSAGE,
			     msg);
		return 1;
	}
	if (err < 0) {
		session_close(s, "connection lost");
		return 1;
	}
	return 0;
}

static void on_session_io(struct evloop *loop, int fd, unsigned events, void *ctx)
{
	struct session *s = ctx;
	const uint8_t *payload;
	size_t len;
	int rc;

	(void)loop;
	(void)fd;
	if (events & EV_WRITE) {
		rc = frame_writer_flush(s->wr, s->fd);
		if (rc < 0) {
			session_close(s, "connection lost");
			return;
		}
		update_interest(s);
		if (s->ag->l7)
			l7steer_session_writable(s->ag->l7, s->id);
	}
	if (!(events & EV_READ))
		return;
	rc = frame_reader_read(s->rd, s->fd);
	if (rc == -EAGAIN)
		return;
	if (rc < 0 && rc != -EAGAIN) {
		session_close(s, "connection lost");
		return;
	}
	s->last_rx_ms = evloop_now_ms();
	for (;;) {
		Bpfmirror__Frame *f = NULL;
		char msg[160];
		rc = frame_reader_next(s->rd, &payload, &len);
		if (rc == 0)
			return;
		if (rc == -EPIPE) {
			session_close(s, "client disconnected");
			return;
		}
		if (rc < 0) {
			snprintf(msg, sizeof(msg), "bad frame: %s", frame_strerror(rc));
			s->ag->ctr.frame_errors++;
			session_fail(s, 0,
				     rc == -EMSGSIZE ? BPFMIRROR__ERROR__CODE__CODE_FRAME_TOO_LARGE
						     : BPFMIRROR__ERROR__CODE__CODE_MALFORMED_FRAME,
				     msg);
			return;
		}
		s->ag->ctr.frames_in++;
		rc = wire_decode(payload, len, &f);
		if (rc) {
			snprintf(msg, sizeof(msg), "bad frame: %s", frame_strerror(rc));
			s->ag->ctr.frame_errors++;
			session_fail(s, 0, BPFMIRROR__ERROR__CODE__CODE_MALFORMED_FRAME, msg);
			return;
		}
		rc = dispatch(s, f);
		wire_frame_free(f);
		if (rc)
			return;
	}
}

static int64_t on_heartbeat_timer(struct evloop *loop, void *ctx)
{
	struct session *s = ctx;
	unsigned hb = s->ag->opts.heartbeat_ms;

	(void)loop;
	if (evloop_now_ms() - s->last_rx_ms > 3 * (int64_t)hb) {
		s->ag->ctr.heartbeat_timeouts++;
		s->ag->ctr.sessions_failed++;
		s->hb_timer = NULL; /* the loop reaps it after we return -1 */
		session_close(s, "no heartbeat from the client");
		return -1;
	}
	return hb;
}

struct session *session_new(struct agent *ag, int fd)
{
	struct session *s = calloc(1, sizeof(*s));
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (!s)
		return NULL;
	s->ag = ag;
	s->fd = fd;
	s->root_fd = -1;
	s->id = ++ag->next_sid ? ag->next_sid : ++ag->next_sid;
	s->rd = frame_reader_new(0);
	s->wr = frame_writer_new(0, WRITER_QUEUE_LIMIT);
	if (!s->rd || !s->wr)
		goto fail;
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
		char ip[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		snprintf(s->peer, sizeof(s->peer), "%s:%u", ip, ntohs(sin->sin_port));
	} else {
		snprintf(s->peer, sizeof(s->peer), "fd %d", fd);
	}
	s->last_rx_ms = evloop_now_ms();
	if (evloop_watch(ag->loop, fd, EV_READ, on_session_io, s))
		goto fail;
	s->hb_timer = evloop_timer(ag->loop, ag->opts.heartbeat_ms, on_heartbeat_timer, s);
	s->next = ag->sessions;
	ag->sessions = s;
	ag->ctr.sessions_total++;
	log_debug("session %u: connection from %s", s->id, s->peer);
	return s;
fail:
	frame_reader_free(s->rd);
	frame_writer_free(s->wr);
	free(s);
	errno = ENOMEM;
	return NULL;
}
