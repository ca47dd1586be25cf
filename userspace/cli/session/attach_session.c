/* The developer side of an attach session: agent links, the twin's tun, the replayer, until exit.
 */
#include "attach_session.h"
#include "bpfmirror_abi.h"
#include "evloop.h"
#include "log.h"
#include "pkt.h"
#include "protocol.h"
#include "readfile.h"
#include "relay.h"
#include "replay.h"
#include "streams.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <time.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define TUN_BATCH      128
#define PKT_MAX	       65536
#define RECONNECT_MS   1000
#define HEARTBEAT_MS   1000
#define REPLAY_TICK_MS 20
#define LISTEN_POLL_MS 200
#define SYNC_MS	       1000

struct attach_session {
	struct evloop *loop;
	struct link *links;
	size_t nlinks;
	const struct attach_params *p;
	struct twin *tw;
	struct replay *rp;
	struct streams *streams; /* filtered steal */
	struct attach_session_stats *st;
	int sigfd;
	int exit_status;
	bool child_done;
	bool refused_told;
	uint8_t buf[PKT_MAX];
};

static void on_link_io(struct evloop *loop, int fd, unsigned events, void *ctx);

int link_attach(struct link *l, const struct attach_params *p, Bpfmirror__Frame **reply, char *err,
		size_t errlen)
{
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT, *r = NULL;
	Bpfmirror__AttachRequest a = BPFMIRROR__ATTACH_REQUEST__INIT;
	Bpfmirror__Target t = BPFMIRROR__TARGET__INIT;
	Bpfmirror__HttpFilter hf = BPFMIRROR__HTTP_FILTER__INIT;
	char *ips[1] = {l->pod_ip}, text[400];
	struct in_addr in;
	int rc;

	l->cl = client_connect(l->agent_addr, p->identity, 3000, err, errlen);
	if (!l->cl)
		return -errno;
	t.namespace_ = (char *)p->ns;
	t.pod_name = l->pod_name;
	t.pod_uid = l->pod_uid;
	t.pod_ips = ips;
	t.n_pod_ips = 1;
	t.container_id = l->container_id;
	t.container_name = l->container_name;
	a.target = &t;
	a.ports = (uint32_t *)p->ports;
	a.n_ports = p->nports;
	a.mode = p->steal ? BPFMIRROR__MODE__MODE_STEAL : BPFMIRROR__MODE__MODE_MIRROR;
	if ((p->header && p->header[0]) || (p->path && p->path[0])) {
		hf.header_regex = (char *)(p->header ? p->header : "");
		hf.path_regex = (char *)(p->path ? p->path : "");
		a.http_filter = &hf;
	}
	f.body_case = BPFMIRROR__FRAME__BODY_ATTACH_REQUEST;
	f.attach_request = &a;
	rc = client_request(l->cl, &f, 10000, &r);
	if (rc) {
		snprintf(err, errlen, "attach to %s through %s failed: %s", l->pod_name,
			 l->agent_addr, frame_strerror(rc));
		goto fail;
	}
	if (r->body_case != BPFMIRROR__FRAME__BODY_ATTACH_REPLY) {
		snprintf(err, errlen, "the agent on %s refused the attach: %s",
			 client_node_name(l->cl), client_error_text(r, text, sizeof(text)));
		rc = r->body_case == BPFMIRROR__FRAME__BODY_ERROR &&
			     r->error->code == BPFMIRROR__ERROR__CODE__CODE_PERMISSION_DENIED
			 ? -EACCES
			 : -ECONNREFUSED;
		wire_frame_free(r);
		goto fail;
	}
	snprintf(l->session_id, sizeof(l->session_id), "%s", r->attach_reply->session_id);
	l->range_lo = (uint16_t)r->attach_reply->port_range_lo;
	l->range_hi = (uint16_t)r->attach_reply->port_range_hi;
	if (inet_pton(AF_INET, l->pod_ip, &in) == 1)
		l->pod_ip_be = in.s_addr;
	l->up = true;
	*reply = r;
	return 0;
fail:
	client_close(l->cl);
	l->cl = NULL;
	return rc;
}

/* ---- packets --------------------------------------------------------------- */

static int tun_emit(void *ctx, const void *pkt, size_t len)
{
	struct attach_session *s = ctx;

	if (write(s->tw->tun_fd, pkt, len) != (ssize_t)len) {
		s->st->tun_write_errors++;
		return -errno;
	}
	s->st->pkts_to_tun++;
	return 0;
}

/* The replayer logs each event; say once per port what refusals mean. */
static void replay_report(void *ctx, enum replay_event ev, const struct replay_tuple *t,
			  uint64_t bytes)
{
	struct attach_session *s = ctx;

	(void)bytes;
	if (ev != REPLAY_EV_REFUSED || s->refused_told)
		return;
	s->refused_told = true;
	log_warn("mirror: nothing listens on port %u in the twin yet: mirrored connections are "
		 "refused locally until the command listens",
		 t->pport);
}

static void on_batch(struct attach_session *s, const Bpfmirror__PacketBatch *b)
{
	uint64_t now = (uint64_t)evloop_now_ms();

	for (size_t i = 0; i < b->n_packets; i++) {
		const Bpfmirror__Packet *pk = b->packets[i];
		size_t len = pk->data.len;
		s->st->pkts_from_agent++;
		if (len == 0 || len > PKT_MAX)
			continue;
		if (pk->reason == BM_R_MIRRORED) {
			replay_from_agent(s->rp, pk->data.data, len, now);
			continue;
		}
		/* Stolen connections and replies to the twin: the local kernel is the peer. */
		memcpy(s->buf, pk->data.data, len);
		pkt_fix_checksums(s->buf, len);
		if (log_get_level() >= LOG_LVL_DEBUG && len >= 20)
			log_debug(
			    "to twin: reason %u, %zu bytes, proto %u, %u.%u.%u.%u -> %u.%u.%u.%u",
			    pk->reason, len, s->buf[9], s->buf[12], s->buf[13], s->buf[14],
			    s->buf[15], s->buf[16], s->buf[17], s->buf[18], s->buf[19]);
		tun_emit(s, s->buf, len);
	}
}

static bool is_mirror_reply(const struct attach_session *s, const uint8_t *p, size_t len)
{
	size_t ihl;
	uint16_t sport;

	if (s->p->steal || len < 40 || (p[0] >> 4) != 4 || p[9] != 6)
		return false;
	ihl = (size_t)(p[0] & 15) * 4;
	if (len < ihl + 4)
		return false;
	sport = (uint16_t)(p[ihl] << 8 | p[ihl + 1]);
	for (size_t i = 0; i < s->p->nports; i++)
		if (s->p->ports[i] == sport)
			return true;
	return false;
}

static struct link *link_for_source(struct attach_session *s, const uint8_t *p)
{
	uint32_t src;

	memcpy(&src, p + 12, 4);
	for (size_t i = 0; i < s->nlinks; i++)
		if (s->links[i].pod_ip_be == src)
			return &s->links[i];
	return &s->links[0];
}

static void send_batch(struct attach_session *s, struct link *l, Bpfmirror__Packet **pkts, size_t n)
{
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT;
	Bpfmirror__PacketBatch b = BPFMIRROR__PACKET_BATCH__INIT;

	if (!n || !l->up)
		return;
	b.packets = pkts;
	b.n_packets = n;
	f.body_case = BPFMIRROR__FRAME__BODY_PACKET_BATCH;
	f.packet_batch = &b;
	if (client_send(l->cl, &f) == 0)
		s->st->pkts_to_agent += n;
	if (client_pending(l->cl))
		evloop_watch(s->loop, client_fd(l->cl), EV_READ | EV_WRITE, on_link_io, s);
}

static void on_tun(struct evloop *loop, int fd, unsigned events, void *ctx)
{
	static uint8_t bufs[TUN_BATCH][2048];
	Bpfmirror__Packet pk[TUN_BATCH], *ptr[TUN_BATCH];
	struct link *owner[TUN_BATCH];
	struct attach_session *s = ctx;
	uint64_t now = (uint64_t)evloop_now_ms();
	size_t n = 0;

	(void)loop;
	(void)events;
	for (int i = 0; i < TUN_BATCH; i++) {
		ssize_t len = read(fd, bufs[n], sizeof(bufs[n]));
		if (len <= 0)
			break;
		if (is_mirror_reply(s, bufs[n], (size_t)len)) {
			replay_from_local(s->rp, bufs[n], (size_t)len, now);
			continue;
		}
		if (len < 20 || (bufs[n][0] >> 4) != 4)
			continue;
		bpfmirror__packet__init(&pk[n]);
		pk[n].data.data = bufs[n];
		pk[n].data.len = (size_t)len;
		pk[n].direction = BPFMIRROR__PACKET__DIRECTION__DIRECTION_EGRESS;
		ptr[n] = &pk[n];
		owner[n] = link_for_source(s, bufs[n]);
		n++;
	}
	/* One frame per link for what this drain read. */
	for (size_t i = 0; i < s->nlinks; i++) {
		Bpfmirror__Packet *mine[TUN_BATCH];
		size_t m = 0;
		for (size_t j = 0; j < n; j++)
			if (owner[j] == &s->links[i])
				mine[m++] = ptr[j];
		send_batch(s, &s->links[i], mine, m);
	}
}

/* ---- outgoing.local: relay to the developer's machine --------------------- */

static void on_local_accept(struct evloop *loop, int fd, unsigned events, void *ctx)
{
	struct attach_session *s = ctx;
	uint16_t port = 0;

	(void)events;
	for (size_t i = 0; i < s->tw->nlocal; i++)
		if (s->tw->local_fds[i] == fd)
			port = s->tw->local_ports[i];
	for (int budget = 0; budget < 16; budget++) {
		struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
		int a = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), b;
		if (a < 0)
			return;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		b = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (b < 0 ||
		    (connect(b, (struct sockaddr *)&sin, sizeof(sin)) < 0 &&
		     errno != EINPROGRESS) ||
		    relay_start(loop, a, b) < 0) {
			log_warn("outgoing.local: cannot reach 127.0.0.1:%u on this machine: %s",
				 port, strerror(errno));
			close(a);
			if (b >= 0)
				close(b);
		}
	}
}

/* ---- fs.read_write: changed files go back to the pod ------------------------ */

static struct attach_session *sync_sess;
static time_t sync_since;
static int sync_budget; /* files written back per tick: the loop must not stall */

static int sync_one(const char *fpath, const struct stat *st, int flag, struct FTW *ftw)
{
	struct attach_session *s = sync_sess;
	struct link *l = &s->links[0];
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT, *r = NULL;
	Bpfmirror__FileRequest q = BPFMIRROR__FILE_REQUEST__INIT;
	char *data = NULL;
	size_t len = 0;
	int rc;

	(void)ftw;
	if (flag != FTW_F || !S_ISREG(st->st_mode) || st->st_mtime < sync_since || !l->up)
		return 0;
	if (sync_budget-- <= 0)
		return 1; /* the rest waits for the next tick */
	/* One frame carries the file: leave room for the frame's other fields. */
	rc = readfile_at(AT_FDCWD, fpath, BPFMIRROR_FRAME_MAX_DEFAULT - 4096, READFILE_REGULAR,
			 &data, &len);
	if (rc) {
		log_warn("fs.read_write: %s was not written back: %s", fpath, strerror(-rc));
		return 0;
	}
	q.op = BPFMIRROR__FILE_REQUEST__OP__OP_WRITE;
	q.path = (char *)fpath + strlen(s->p->files_root);
	q.data.data = (uint8_t *)data;
	q.data.len = len;
	f.body_case = BPFMIRROR__FRAME__BODY_FILE_REQUEST;
	f.file_request = &q;
	if (client_request(l->cl, &f, 2000, &r) == 0) {
		if (r->body_case == BPFMIRROR__FRAME__BODY_FILE_REPLY && r->file_reply->errnum == 0)
			log_info("fs.read_write: wrote %s back to the pod (%zu bytes)", q.path,
				 len);
		else
			log_warn("fs.read_write: %s was not written back: %s", q.path,
				 r->body_case == BPFMIRROR__FRAME__BODY_FILE_REPLY
				     ? strerror(r->file_reply->errnum)
				     : "refused");
		wire_frame_free(r);
	}
	free(data);
	return 0;
}

static int64_t on_sync(struct evloop *loop, void *ctx)
{
	struct attach_session *s = ctx;
	time_t now = time(NULL);
	char path[4096];

	sync_sess = s;
	sync_budget = 4;
	for (size_t i = 0; s->p->rw_paths[i] && sync_budget > 0; i++) {
		snprintf(path, sizeof(path), "%s%s", s->p->files_root, s->p->rw_paths[i]);
		nftw(path, sync_one, 8, FTW_PHYS);
	}
	/* mtimes have a 1 s grain: look again at what changed in this second
	 * (and everything, while the budget cut a walk short). */
	if (sync_budget >= 0)
		sync_since = now;
	/* Frames that arrived while a write waited for its answer are queued. */
	if (s->links[0].up)
		on_link_io(loop, client_fd(s->links[0].cl), EV_READ, s);
	return SYNC_MS;
}

/* ---- links ----------------------------------------------------------------- */

static void stop_command(struct attach_session *s)
{
	twin_signal(s->tw, SIGTERM);
}

static void link_down(struct attach_session *s, struct link *l, const char *why)
{
	if (!l->up)
		return;
	evloop_unwatch(s->loop, client_fd(l->cl));
	client_close(l->cl);
	l->cl = NULL;
	l->up = false;
	memset(l->stealing, 0, sizeof(l->stealing));
	s->st->disconnects++;
	streams_link_down(s->streams, l);
	replay_reset_all(s->rp);
	if (s->p->exit_on_disconnect) {
		log_error("lost the agent of %s (%s): %s; stopping the command "
			  "(--exit-on-disconnect)",
			  l->pod_name, l->agent_addr, why);
		s->exit_status = 1;
		stop_command(s);
		return;
	}
	log_error("lost the agent of %s (%s): %s; the command keeps running, re-attaching...",
		  l->pod_name, l->agent_addr, why);
	l->retry_at_ms = evloop_now_ms() + RECONNECT_MS;
}

static void on_link_io(struct evloop *loop, int fd, unsigned events, void *ctx)
{
	struct attach_session *s = ctx;
	struct link *l = NULL;

	(void)loop;
	for (size_t i = 0; i < s->nlinks; i++)
		if (s->links[i].up && client_fd(s->links[i].cl) == fd)
			l = &s->links[i];
	if (!l)
		return;
	if (events & EV_WRITE) {
		int rc = client_flush(l->cl);
		if (rc < 0) {
			link_down(s, l, "connection lost");
			return;
		}
		if (rc == 0)
			evloop_watch(s->loop, fd, EV_READ, on_link_io, s);
		streams_link_writable(s->streams, l);
	}
	if (!(events & EV_READ))
		return;
	for (int budget = 0; budget < 64; budget++) {
		Bpfmirror__Frame *f = NULL;
		char text[300];
		int rc = client_next(l->cl, 0, &f);
		if (rc == 0)
			return;
		if (rc < 0) {
			link_down(s, l,
				  rc == -EPIPE ? "the agent closed the connection"
					       : frame_strerror(rc));
			return;
		}
		switch (f->body_case) {
		case BPFMIRROR__FRAME__BODY_PACKET_BATCH:
			on_batch(s, f->packet_batch);
			break;
		case BPFMIRROR__FRAME__BODY_STREAM_OPEN:
		case BPFMIRROR__FRAME__BODY_STREAM_DATA:
		case BPFMIRROR__FRAME__BODY_STREAM_HALF_CLOSE:
		case BPFMIRROR__FRAME__BODY_STREAM_CLOSE:
			streams_on_frame(s->streams, l, f);
			break;
		case BPFMIRROR__FRAME__BODY_ERROR:
			log_error("agent on %s: %s", client_node_name(l->cl),
				  client_error_text(f, text, sizeof(text)));
			if (f->error->fatal) {
				wire_frame_free(f);
				link_down(s, l, "session ended by the agent");
				return;
			}
			break;
		default:
			break; /* heartbeat answers, acks */
		}
		wire_frame_free(f);
	}
}

/* Streams queued a frame on l: write it when the socket takes it. */
static void kick_link(void *ctx, struct link *l)
{
	struct attach_session *s = ctx;

	if (l->up && client_pending(l->cl))
		evloop_watch(s->loop, client_fd(l->cl), EV_READ | EV_WRITE, on_link_io, s);
}

static void reattach(struct attach_session *s, struct link *l)
{
	Bpfmirror__Frame *r = NULL;
	char err[512];

	if (link_attach(l, s->p, &r, err, sizeof(err))) {
		log_debug("re-attach %s: %s", l->pod_name, err);
		l->retry_at_ms = evloop_now_ms() + RECONNECT_MS;
		return;
	}
	wire_frame_free(r);
	evloop_watch(s->loop, client_fd(l->cl), EV_READ, on_link_io, s);
	log_info("re-attached to %s through %s (session %s)", l->pod_name, l->agent_addr,
		 l->session_id);
}

/* ---- steal follows the local listener ---------------------------------------- */

/* True when a socket in the twin listens on PORT (TCP, any address). */
static bool twin_listens(pid_t pid, uint16_t port)
{
	static const char *const tables[] = {"tcp", "tcp6"};
	char path[64], line[512];
	bool found = false;

	for (size_t t = 0; t < 2 && !found; t++) {
		FILE *f;
		snprintf(path, sizeof(path), "/proc/%d/net/%s", (int)pid, tables[t]);
		f = fopen(path, "re");
		if (!f)
			continue;
		while (!found && fgets(line, sizeof(line), f)) {
			unsigned lport, st;
			char laddr[64];
			if (sscanf(line, " %*u: %63[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", laddr,
				   &lport, &st) == 3)
				found = lport == port && st == 0x0A; /* TCP_LISTEN */
		}
		fclose(f);
	}
	return found;
}

static void send_subscribe(struct attach_session *s, struct link *l, size_t i, bool on)
{
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT;
	Bpfmirror__Subscribe sub = BPFMIRROR__SUBSCRIBE__INIT;
	Bpfmirror__Unsubscribe uns = BPFMIRROR__UNSUBSCRIBE__INIT;
	Bpfmirror__HttpFilter hf = BPFMIRROR__HTTP_FILTER__INIT;
	uint32_t port = s->p->ports[i];
	bool filtered = (s->p->header && s->p->header[0]) || (s->p->path && s->p->path[0]);

	f.request_id = 0x80000000u + port; /* answers are logged, not awaited */
	if (on) {
		sub.port = port;
		sub.mode = BPFMIRROR__MODE__MODE_STEAL;
		if (filtered) {
			hf.header_regex = (char *)(s->p->header ? s->p->header : "");
			hf.path_regex = (char *)(s->p->path ? s->p->path : "");
			sub.http_filter = &hf;
		}
		f.body_case = BPFMIRROR__FRAME__BODY_SUBSCRIBE;
		f.subscribe = &sub;
	} else {
		uns.port = port;
		f.body_case = BPFMIRROR__FRAME__BODY_UNSUBSCRIBE;
		f.unsubscribe = &uns;
	}
	if (client_send(l->cl, &f) == 0) {
		l->stealing[i] = on;
		if (l == &s->links[0])
			log_info("%s port %u: %s", on ? "stealing" : "released", port,
				 on ? (filtered ? "the local process listens; matching requests "
						  "come here"
						: "the local process listens; new connections come "
						  "here")
				    : (filtered ? "nothing listens locally; all requests go to "
						  "the pod"
						: "nothing listens locally; new connections go to "
						  "the pod"));
	}
}

static int64_t on_listen_poll(struct evloop *loop, void *ctx)
{
	struct attach_session *s = ctx;

	(void)loop;
	if (s->child_done)
		return -1;
	for (size_t i = 0; i < s->p->nports; i++) {
		bool on = twin_listens(s->tw->pid, (uint16_t)s->p->ports[i]);
		for (size_t j = 0; j < s->nlinks; j++) {
			struct link *l = &s->links[j];
			if (l->up && l->stealing[i] != on)
				send_subscribe(s, l, i, on);
		}
	}
	return LISTEN_POLL_MS;
}

static int64_t on_heartbeat(struct evloop *loop, void *ctx)
{
	struct attach_session *s = ctx;

	(void)loop;
	for (size_t i = 0; i < s->nlinks; i++) {
		struct link *l = &s->links[i];
		if (l->up) {
			if (client_heartbeat(l->cl) < 0)
				link_down(s, l, "connection lost");
		} else if (!s->child_done && !s->p->exit_on_disconnect &&
			   evloop_now_ms() >= l->retry_at_ms) {
			reattach(s, l);
		}
	}
	return HEARTBEAT_MS;
}

static int64_t on_replay_tick(struct evloop *loop, void *ctx)
{
	struct attach_session *s = ctx;

	(void)loop;
	replay_tick(s->rp, (uint64_t)evloop_now_ms());
	return REPLAY_TICK_MS;
}

static void on_signal(struct evloop *loop, int fd, unsigned events, void *ctx)
{
	struct attach_session *s = ctx;
	struct signalfd_siginfo si;

	(void)events;
	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			int status;
			pid_t pid;
			/* Only the twin: other children (kubectl port-forward) are
			 * reaped by their own owners. */
			while ((pid = waitpid(s->tw->pid, &status, WNOHANG)) > 0) {
				s->child_done = true;
				if (s->exit_status == 0)
					s->exit_status = WIFEXITED(status) ? WEXITSTATUS(status)
									   : 128 + WTERMSIG(status);
				evloop_stop(loop);
			}
		} else if (si.ssi_signo == SIGINT && s->p->interactive) {
			/* Ctrl-C belongs to the interactive shell; exit it to detach. */
			continue;
		} else {
			log_info("%s: stopping the command and detaching",
				 si.ssi_signo == SIGINT ? "interrupted" : "terminated");
			stop_command(s);
		}
	}
}

/* Appends ", N NAME" to BUF when N is not zero. */
static void add_count(char *buf, size_t len, uint64_t n, const char *name)
{
	size_t used = strlen(buf);

	if (n && used < len)
		snprintf(buf + used, len - used, "%s%llu %s", used ? ", " : "",
			 (unsigned long long)n, name);
}

/*
 * The mirror's outcome at detach, one line: how many connections reached the local app with
 * every byte, how many the replayer gave up on (by reason) and what else happened to the
 * rest. docs/troubleshooting.md explains how to read it.
 */
static void log_mirror_summary(const struct replay *rp)
{
	struct replay_stats rs;
	char why[256] = "", other[256] = "";
	uint64_t gave_up;

	replay_stats(rp, &rs);
	gave_up = rs.conns_syn_timeout + rs.resets_timeout + rs.resets_gap + rs.resets_budget +
		  rs.resets_idle + rs.conns_table_full + rs.conns_reset_all;
	add_count(why, sizeof(why), rs.conns_syn_timeout, "syn-timeout");
	add_count(why, sizeof(why), rs.resets_timeout, "local-timeout");
	add_count(why, sizeof(why), rs.resets_gap, "gap-timeout");
	add_count(why, sizeof(why), rs.resets_budget, "over-budget");
	add_count(why, sizeof(why), rs.resets_idle, "idle");
	add_count(why, sizeof(why), rs.conns_table_full, "table-full");
	add_count(why, sizeof(why), rs.conns_reset_all, "agent-disconnect");
	add_count(other, sizeof(other), rs.conns_refused, "refused (nothing listening)");
	add_count(other, sizeof(other), rs.conns_reset_early, "reset by a peer first");
	add_count(other, sizeof(other), rs.conns_active, "open at detach");
	add_count(other, sizeof(other), rs.conns_midstream, "mid-stream, not replayed");
	log_info("mirror: %llu connections replayed: %llu delivered, %llu given up%s%s%s; "
		 "%llu bytes delivered%s%s",
		 (unsigned long long)(rs.conns_opened + rs.conns_table_full),
		 (unsigned long long)rs.conns_delivered, (unsigned long long)gave_up,
		 why[0] ? " (" : "", why, why[0] ? ")" : "", (unsigned long long)rs.bytes_delivered,
		 other[0] ? "; " : "", other);
}

static void detach_all(struct attach_session *s)
{
	for (size_t i = 0; i < s->nlinks; i++) {
		struct link *l = &s->links[i];
		Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT, *r = NULL;
		Bpfmirror__Detach d = BPFMIRROR__DETACH__INIT;
		if (!l->up)
			continue;
		d.reason = (char *)"command exited";
		f.body_case = BPFMIRROR__FRAME__BODY_DETACH;
		f.detach = &d;
		if (client_request(l->cl, &f, 2000, &r) == 0)
			wire_frame_free(r);
		evloop_unwatch(s->loop, client_fd(l->cl));
		client_close(l->cl);
		l->cl = NULL;
		l->up = false;
	}
}

/* SIGINT, SIGTERM, SIGHUP and SIGCHLD arrive on the loop through a signalfd (MASK blocked). */
static int watch_signals(struct attach_session *s, sigset_t *mask)
{
	sigaddset(mask, SIGINT);
	sigaddset(mask, SIGTERM);
	sigaddset(mask, SIGCHLD);
	sigaddset(mask, SIGHUP);
	sigprocmask(SIG_BLOCK, mask, NULL);
	s->sigfd = signalfd(-1, mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (s->sigfd < 0 || evloop_watch(s->loop, s->sigfd, EV_READ, on_signal, s))
		return -1;
	return 0;
}

/* The tun, the locals' listeners, the attached links and the periodic work. */
static int watch_sources(struct attach_session *s)
{
	const struct attach_params *p = s->p;
	struct twin *tw = s->tw;

	if (evloop_watch(s->loop, tw->tun_fd, EV_READ, on_tun, s))
		return -1;
	for (size_t i = 0; i < tw->nlocal; i++)
		evloop_watch(s->loop, tw->local_fds[i], EV_READ, on_local_accept, s);
	for (size_t i = 0; i < s->nlinks; i++)
		if (s->links[i].up)
			evloop_watch(s->loop, client_fd(s->links[i].cl), EV_READ, on_link_io, s);
	evloop_timer(s->loop, HEARTBEAT_MS, on_heartbeat, s);
	evloop_timer(s->loop, REPLAY_TICK_MS, on_replay_tick, s);
	if (p->rw_paths && p->rw_paths[0] && p->files_root) {
		sync_since = time(NULL);
		evloop_timer(s->loop, SYNC_MS, on_sync, s);
	}
	/* Steal (whole or filtered): only while the local process listens. */
	if (p->steal)
		evloop_timer(s->loop, 0, on_listen_poll, s);
	return 0;
}

/* A SIGCHLD that arrived before the mask is caught by this first check. */
static void check_child_done(struct attach_session *s)
{
	int status;

	if (waitpid(s->tw->pid, &status, WNOHANG) == s->tw->pid) {
		s->child_done = true;
		s->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	}
}

int attach_session_run(struct link *links, size_t nlinks, const struct attach_params *p,
		       struct twin *tw, struct attach_session_stats *st)
{
	struct replay_opts ro = {.emit = tun_emit, .report = replay_report};
	struct attach_session *s = calloc(1, sizeof(*s));
	struct streams_opts so = {.twin_pid = tw->pid, .kick = kick_link};
	sigset_t mask;
	int rc = 1;

	sigemptyset(&mask);
	if (!s)
		return 1;
	s->links = links;
	s->nlinks = nlinks;
	s->p = p;
	s->tw = tw;
	s->st = st;
	s->sigfd = -1;
	ro.ctx = s;
	s->loop = evloop_new();
	s->rp = replay_new(&ro);
	if (!s->loop || !s->rp)
		goto out;
	so.loop = s->loop;
	so.ctx = s;
	s->streams = streams_new(&so);
	if (!s->streams || watch_signals(s, &mask) || watch_sources(s))
		goto out;
	check_child_done(s);
	if (!s->child_done)
		evloop_run(s->loop);
	detach_all(s);
	rc = s->exit_status;
out:
	if (s->rp) {
		if (!p->steal)
			log_mirror_summary(s->rp);
		replay_free(s->rp);
	}
	streams_free(s->streams);
	if (s->sigfd >= 0)
		close(s->sigfd);
	evloop_free(s->loop);
	sigprocmask(SIG_UNBLOCK, &mask, NULL);
	free(s);
	return rc;
}
