/* The node agent: control listener, sessions, data plane and metrics in one loop. */
#include "agent_priv.h"
#include "datapath.h"
#include "l7steer.h"
#include "log.h"
#include "metrics.h"
#include "tcplisten.h"
#include "wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * A connection above the session limit gets one fatal Error and is closed:
 * a small frame the fresh socket's buffer always takes, so no queue is kept.
 */
static void refuse_session(struct agent *ag, int fd)
{
	Bpfmirror__Frame f;
	Bpfmirror__Error e;
	uint8_t *buf = NULL, hdr[FRAME_HDR_LEN];
	char msg[128];
	size_t len;

	ag->ctr.sessions_refused++;
	snprintf(msg, sizeof(msg), "the agent serves %u sessions, its limit: try again later",
		 ag->opts.max_sessions);
	wire_error_init(&f, &e, 0, BPFMIRROR__ERROR__CODE__CODE_RESOURCE_EXHAUSTED, true, msg);
	if (wire_encode(&f, &buf, &len) == 0 && frame_put_header(hdr, len, UINT32_MAX) == 0 &&
	    send(fd, hdr, sizeof(hdr), MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)sizeof(hdr))
		send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	free(buf);
	if (ag->ctr.sessions_refused % 64 == 1) /* a flood must not flood the log */
		log_warn("connection refused: %s (%llu so far)", msg,
			 (unsigned long long)ag->ctr.sessions_refused);
	close(fd);
}

static void on_accept(struct evloop *loop, int fd, unsigned events, void *ctx)
{
	struct agent *ag = ctx;

	(void)loop;
	(void)events;
	for (int i = 0; i < 16; i++) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0)
			return;
		if (agent_session_count(ag) >= ag->opts.max_sessions) {
			refuse_session(ag, cfd);
			continue;
		}
		/* Frames carry packets: send them at once (no Nagle). */
		setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
		if (!session_new(ag, cfd)) {
			log_warn("cannot start a session: %s", strerror(errno));
			close(cfd);
		}
	}
}

static int on_dp_packet(void *ctx, const struct datapath_pkt *pkt)
{
	return session_deliver_packet(ctx, pkt);
}

static void on_datapath(struct evloop *loop, int fd, unsigned events, void *ctx)
{
	struct agent *ag = ctx;

	(void)loop;
	(void)fd;
	(void)events;
	datapath_poll(ag->dp, on_dp_packet, ag);
	session_flush_all(ag);
}

/* Options left unset take their defaults; the chart names the host's views by environment. */
static void apply_defaults(struct agent *ag, const struct agent_opts *opts)
{
	ag->opts = *opts;
	ag->listen_fd = -1;
	if (!ag->opts.listen)
		ag->opts.listen = AGENT_DEFAULT_LISTEN;
	/* The chart mounts the host's views under /host and names them here. */
	if (!ag->opts.proc_root)
		ag->opts.proc_root = getenv("BPFMIRROR_HOST_PROC") ?: "/proc";
	if (!ag->opts.pod_logs)
		ag->opts.pod_logs = getenv("BPFMIRROR_HOST_POD_LOGS") ?: "/var/log/pods";
	if (!ag->opts.heartbeat_ms)
		ag->opts.heartbeat_ms = AGENT_HEARTBEAT_MS;
	if (!ag->opts.max_sessions)
		ag->opts.max_sessions = AGENT_MAX_SESSIONS;
	ag->in_budget.limit = AGENT_INPUT_BUDGET;
	ag->out_budget.limit = AGENT_OUTPUT_BUDGET;
	if (opts->node_name && opts->node_name[0])
		snprintf(ag->node_name, sizeof(ag->node_name), "%s", opts->node_name);
	else if (getenv("NODE_NAME") && getenv("NODE_NAME")[0]) /* the chart's downward API */
		snprintf(ag->node_name, sizeof(ag->node_name), "%s", getenv("NODE_NAME"));
	else if (gethostname(ag->node_name, sizeof(ag->node_name) - 1) < 0)
		strcpy(ag->node_name, "unknown");
}

/* Loads the BPF data plane, watches its fd and makes the filtered-steal glue. */
static int open_dataplane(struct agent *ag)
{
	struct datapath_opts dopts = DATAPATH_OPTS_DEFAULT;
	int rc;

	dopts.force_clsact = ag->opts.force_clsact;
	dopts.ring_bytes = ag->opts.ring_mib << 20;
	ag->dp = datapath_open(&dopts);
	if (!ag->dp) {
		rc = -errno;
		log_error("cannot load the BPF data plane: %s", strerror(errno));
		return rc;
	}
	rc = evloop_watch(ag->loop, datapath_fd(ag->dp), EV_READ, on_datapath, ag);
	if (rc)
		return rc;
	/* Filtered steal; its steer namespace is made at the first filtered attach. */
	ag->l7 = l7steer_new(ag);
	return ag->l7 ? 0 : -ENOMEM;
}

struct agent *agent_new(const struct agent_opts *opts)
{
	struct agent *ag = calloc(1, sizeof(*ag));
	char err[512];
	int rc;

	if (!ag)
		return NULL;
	apply_defaults(ag, opts);
	ag->policy =
	    opts->policy_path ? policy_load(opts->policy_path, err, sizeof(err)) : policy_default();
	if (!ag->policy) {
		log_error("policy: %s", opts->policy_path ? err : "out of memory");
		rc = -EINVAL;
		goto fail;
	}
	ag->loop = evloop_new();
	if (!ag->loop) {
		rc = -errno;
		goto fail;
	}
	if (!opts->no_datapath) {
		rc = open_dataplane(ag);
		if (rc)
			goto fail;
	}
	ag->listen_fd = tcplisten_open(ag->opts.listen, 64);
	if (ag->listen_fd < 0) {
		rc = ag->listen_fd;
		log_error("cannot listen on %s: %s", ag->opts.listen, strerror(-rc));
		goto fail;
	}
	rc = evloop_watch(ag->loop, ag->listen_fd, EV_READ, on_accept, ag);
	if (rc)
		goto fail;
	if (opts->metrics && opts->metrics[0]) {
		ag->metrics = metrics_start(ag, opts->metrics);
		if (!ag->metrics) {
			rc = -errno;
			log_error("cannot serve metrics on %s: %s", opts->metrics, strerror(errno));
			goto fail;
		}
	}
	log_info("listening on %s (node %s, metrics %s, data plane %s)", ag->opts.listen,
		 ag->node_name, opts->metrics && opts->metrics[0] ? opts->metrics : "off",
		 ag->dp ? "loaded" : "off");
	return ag;
fail:
	agent_free(ag);
	errno = -rc;
	return NULL;
}

int agent_run(struct agent *ag)
{
	return evloop_run(ag->loop);
}

void agent_stop(struct agent *ag)
{
	evloop_stop(ag->loop);
}

void agent_free(struct agent *ag)
{
	if (!ag)
		return;
	while (ag->sessions)
		session_close(ag->sessions, "agent shutting down");
	l7steer_free(ag->l7);
	metrics_stop(ag->metrics);
	if (ag->listen_fd >= 0)
		close(ag->listen_fd);
	datapath_close(ag->dp);
	evloop_free(ag->loop);
	policy_free(ag->policy);
	free(ag);
}
