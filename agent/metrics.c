/* Prometheus /metrics, /healthz and /readyz of the agent on their own port. */
#include "metrics.h"
#include "agent_priv.h"
#include "datapath.h"
#include "l7steer.h"
#include "log.h"
#include "tcplisten.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_CLIENTS 8
#define REQ_MAX	    2048

struct mclient {
	int fd;
	int64_t since; /* accepted at, ms */
	size_t len;
	char req[REQ_MAX];
};

struct metrics_server {
	struct agent *ag;
	int fd;
	struct mclient clients[MAX_CLIENTS];
};

struct out {
	char *buf;
	size_t cap, len;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->len >= o->cap)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len = o->len + (size_t)n < o->cap ? o->len + (size_t)n : o->cap;
}

static void counter(struct out *o, const char *name, const char *help, unsigned long long v)
{
	put(o, "# HELP bpfmirror_%s %s\n# TYPE bpfmirror_%s counter\nbpfmirror_%s %llu\n", name,
	    help, name, name, v);
}

static void gauge(struct out *o, const char *name, const char *help, unsigned long long v)
{
	put(o, "# HELP bpfmirror_%s %s\n# TYPE bpfmirror_%s gauge\nbpfmirror_%s %llu\n", name, help,
	    name, name, v);
}

/* Client packets the agent did not inject, by the rule they broke. */
static void refusals(struct out *o, const struct agent_counters *c)
{
	put(o, "# HELP bpfmirror_client_packets_refused_total Client packets dropped, by "
	       "reason.\n# TYPE bpfmirror_client_packets_refused_total counter\n");
	for (unsigned r = INJECT_OK + 1; r < INJECT_REFUSAL_MAX; r++)
		put(o, "bpfmirror_client_packets_refused_total{reason=\"%s\"} %llu\n",
		    session_refusal_name(r), (unsigned long long)c->packets_refused[r]);
}

size_t metrics_render(const struct agent *ag, char *buf, size_t len)
{
	const struct agent_counters *c = &ag->ctr;
	struct out o = {buf, len, 0};
	struct bm_stat st[BM_R_MAX];

	gauge(&o, "sessions", "Sessions connected now.", agent_session_count(ag));
	gauge(&o, "subscriptions", "Port subscriptions held by sessions now.",
	      agent_subscription_count(ag));
	counter(&o, "sessions_total", "Sessions accepted.", c->sessions_total);
	counter(&o, "sessions_failed_total", "Sessions ended by an error.", c->sessions_failed);
	counter(&o, "sessions_refused_total", "Connections refused above the session limit.",
		c->sessions_refused);
	counter(&o, "attach_errors_total", "Attach requests refused or failed.", c->attach_errors);
	counter(&o, "frames_received_total", "Control frames received.", c->frames_in);
	counter(&o, "frames_sent_total", "Control frames sent.", c->frames_out);
	counter(&o, "frame_errors_total", "Malformed, oversized or unexpected frames.",
		c->frame_errors);
	counter(&o, "heartbeat_timeouts_total", "Sessions ended for missing heartbeats.",
		c->heartbeat_timeouts);
	counter(&o, "client_packets_sent_total", "Packets sent to clients.", c->packets_to_client);
	counter(&o, "client_bytes_sent_total", "Packet bytes sent to clients.", c->bytes_to_client);
	counter(&o, "client_backlog_drops_total",
		"Packets dropped because a client read too slowly.", c->packets_backlog_drop);
	counter(&o, "client_packets_received_total", "Packets received from clients.",
		c->packets_from_client);
	counter(&o, "client_packets_injected_total", "Client packets emitted as the pod.",
		c->packets_injected);
	counter(&o, "client_packets_rejected_total",
		"Client packets dropped: not of the session's own flows.", c->packets_rejected);
	refusals(&o, c);
	counter(&o, "inject_errors_total", "Client packets the node did not take.",
		c->inject_errors);
	counter(&o, "file_requests_total", "File requests served.", c->file_requests);
	counter(&o, "file_denied_total", "File requests refused by policy.", c->file_denied);
	if (ag->l7) {
		struct l7steer_stats ls;
		l7steer_stats(ag->l7, &ls);
		put(&o,
		    "# HELP bpfmirror_router_requests_total HTTP requests routed by the L7 router "
		    "(filtered steal), by target.\n# TYPE bpfmirror_router_requests_total "
		    "counter\n");
		put(&o, "bpfmirror_router_requests_total{target=\"app\"} %llu\n",
		    (unsigned long long)ls.to_app);
		put(&o, "bpfmirror_router_requests_total{target=\"session\"} %llu\n",
		    (unsigned long long)ls.to_sessions);
		counter(&o, "router_connections_total", "Client connections the router accepted.",
			ls.conns_accepted);
		gauge(&o, "router_connections", "Client connections in the router now.",
		      ls.conns_active);
		counter(&o, "router_fallbacks_total",
			"Requests resent to the app after a session failed.", ls.fallbacks);
		counter(&o, "router_errors_total", "Error responses made by the router.",
			ls.errors);
		counter(&o, "router_passthrough_total",
			"Connections passed through untouched (not HTTP/1.x).", ls.passthrough);
		counter(&o, "router_h2_connections_total", "HTTP/2 connections routed per stream.",
			ls.h2_conns);
		counter(&o, "router_h2_rejects_total",
			"Hostile HTTP/2 input: streams reset or connections ended.", ls.h2_rejects);
		counter(&o, "router_streams_total", "Streams opened to sessions.",
			ls.streams_opened);
		counter(&o, "router_app_connect_errors_total", "Failed connections to the app.",
			ls.app_connect_errors);
		counter(&o, "router_app_from_node_total",
			"App connections made from the node, not the client's address.",
			ls.passthru_fallbacks);
		counter(&o, "router_stream_overflows_total",
			"Streams reset: a session sent more than a stream may queue.",
			ls.stream_overflows);
	}
	if (ag->dp && datapath_stats(ag->dp, st) == 0) {
		put(&o, "# HELP bpfmirror_datapath_packets_total Packets seen by the BPF programs, "
			"by reason.\n# TYPE bpfmirror_datapath_packets_total counter\n");
		for (unsigned r = 0; r < BM_R_MAX; r++)
			put(&o, "bpfmirror_datapath_packets_total{reason=\"%s\"} %llu\n",
			    datapath_reason_name(r), (unsigned long long)st[r].packets);
		put(&o, "# HELP bpfmirror_datapath_bytes_total Bytes seen by the BPF programs, by "
			"reason.\n# TYPE bpfmirror_datapath_bytes_total counter\n");
		for (unsigned r = 0; r < BM_R_MAX; r++)
			put(&o, "bpfmirror_datapath_bytes_total{reason=\"%s\"} %llu\n",
			    datapath_reason_name(r), (unsigned long long)st[r].bytes);
	}
	return o.len;
}

static int send_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void reply(int fd, const char *status, const char *body, size_t len)
{
	char hdr[256];
	int n = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.1 %s\r\nContent-Type: text/plain; version=0.0.4\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			 status, len);

	/* Small answers to a scraper: blocking sends bounded by a timeout. */
	struct timeval tv = {.tv_sec = 1};
	int flags = fcntl(fd, F_GETFL);

	fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (send_all(fd, hdr, (size_t)n) == 0 && len)
		send_all(fd, body, len);
}

static void client_drop(struct metrics_server *m, struct mclient *c)
{
	evloop_unwatch(m->ag->loop, c->fd);
	close(c->fd);
	c->fd = -1;
}

static void on_client(struct evloop *loop, int fd, unsigned events, void *ctx)
{
	struct metrics_server *m = ctx;
	struct mclient *c = NULL;
	ssize_t r;

	(void)loop;
	(void)events;
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (m->clients[i].fd == fd)
			c = &m->clients[i];
	if (!c)
		return;
	r = recv(fd, c->req + c->len, REQ_MAX - 1 - c->len, 0);
	if (r <= 0) {
		client_drop(m, c);
		return;
	}
	c->len += (size_t)r;
	c->req[c->len] = '\0';
	if (!strstr(c->req, "\r\n\r\n") && !strstr(c->req, "\n\n")) {
		if (c->len == REQ_MAX - 1) {
			reply(fd, "431 Request Header Fields Too Large", "", 0);
			client_drop(m, c);
		}
		return;
	}
	if (strncmp(c->req, "GET /metrics ", 13) == 0 ||
	    strncmp(c->req, "GET /metrics?", 13) == 0) {
		size_t cap = 64 << 10, n;
		char *buf = malloc(cap);
		if (buf) {
			n = metrics_render(m->ag, buf, cap);
			reply(fd, "200 OK", buf, n);
			free(buf);
		}
	} else if (strncmp(c->req, "GET /healthz ", 13) == 0 ||
		   strncmp(c->req, "GET /readyz ", 12) == 0) {
		reply(fd, "200 OK", "ok\n", 3);
	} else {
		reply(fd, "404 Not Found", "not found\n", 10);
	}
	client_drop(m, c);
}

static void on_accept(struct evloop *loop, int fd, unsigned events, void *ctx)
{
	struct metrics_server *m = ctx;
	int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct mclient *slot = NULL;

	(void)events;
	if (cfd < 0)
		return;
	for (int i = 0; i < MAX_CLIENTS && !slot; i++)
		if (m->clients[i].fd < 0)
			slot = &m->clients[i];
	if (!slot) {
		/* Idle connections must not lock out the kubelet's probes: the
		 * one that has waited longest makes room. */
		slot = &m->clients[0];
		for (int i = 1; i < MAX_CLIENTS; i++)
			if (m->clients[i].since < slot->since)
				slot = &m->clients[i];
		client_drop(m, slot);
	}
	slot->fd = cfd;
	slot->len = 0;
	slot->since = evloop_now_ms();
	if (evloop_watch(loop, cfd, EV_READ, on_client, m)) {
		slot->fd = -1;
		close(cfd);
	}
}

struct metrics_server *metrics_start(struct agent *ag, const char *addr)
{
	struct metrics_server *m = calloc(1, sizeof(*m));
	int err;

	if (!m)
		return NULL;
	m->ag = ag;
	for (int i = 0; i < MAX_CLIENTS; i++)
		m->clients[i].fd = -1;
	m->fd = tcplisten_open(addr, 16);
	if (m->fd < 0) {
		err = m->fd;
		free(m);
		errno = -err;
		return NULL;
	}
	err = evloop_watch(ag->loop, m->fd, EV_READ, on_accept, m);
	if (err) {
		close(m->fd);
		free(m);
		errno = -err;
		return NULL;
	}
	return m;
}

void metrics_stop(struct metrics_server *m)
{
	if (!m)
		return;
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (m->clients[i].fd >= 0)
			client_drop(m, &m->clients[i]);
	evloop_unwatch(m->ag->loop, m->fd);
	close(m->fd);
	free(m);
}
