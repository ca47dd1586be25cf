/* One client session of the agent: handshake, frame dispatch, heartbeats, teardown. */
#include "session_priv.h"
#include "log.h"
#include "l7steer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

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

struct session *session_find(struct agent *ag, uint32_t id)
{
	for (struct session *s = ag->sessions; s; s = s->next)
		if (s->id == id)
			return s;
	return NULL;
}

/* Arms EPOLLOUT only while the writer holds bytes. */
void session_update_interest(struct session *s)
{
	unsigned ev = EV_READ | (frame_writer_pending(s->wr) ? EV_WRITE : 0);

	evloop_watch(s->ag->loop, s->fd, ev, on_session_io, s);
}

int session_send_frame(struct session *s, Bpfmirror__Frame *f)
{
	int err = wire_send(s->wr, f);

	if (err)
		return err;
	s->ag->ctr.frames_out++;
	err = frame_writer_flush(s->wr, s->fd);
	if (err < 0)
		return err;
	session_update_interest(s);
	return 0;
}

int session_send_error(struct session *s, uint64_t req, Bpfmirror__Error__Code code, bool fatal,
		       const char *msg)
{
	Bpfmirror__Frame f;
	Bpfmirror__Error e;

	wire_error_init(&f, &e, req, code, fatal, msg);
	log_warn("session %u (%s): %s: %s", s->id, s->identity[0] ? s->identity : s->peer,
		 wire_error_code_name(code), msg);
	return session_send_frame(s, &f);
}

int session_send_ack(struct session *s, uint64_t req)
{
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT;
	Bpfmirror__Ack ack = BPFMIRROR__ACK__INIT;

	f.request_id = req;
	f.body_case = BPFMIRROR__FRAME__BODY_ACK;
	f.ack = &ack;
	return session_send_frame(s, &f);
}

/* ---- streams of filtered steal (agent/l7/l7steer.c) ------------------------- */

/* Queues a Stream* frame; never closes the session here (the caller is inside a router). */
int session_stream_send(struct agent *ag, uint32_t sid, Bpfmirror__Frame *f)
{
	struct session *s = session_find(ag, sid);
	int err;

	if (!s || s->state != S_ATTACHED)
		return -ENOTCONN;
	err = wire_send(s->wr, f);
	if (err)
		return err;
	s->ag->ctr.frames_out++;
	if (frame_writer_flush(s->wr, s->fd) < 0)
		return -EPIPE; /* the next EV_WRITE ends the session */
	session_update_interest(s);
	return 0;
}

size_t session_stream_queued(struct agent *ag, uint32_t sid)
{
	struct session *s = session_find(ag, sid);

	return s ? frame_writer_queued(s->wr) : 0;
}

/* ---- teardown ----------------------------------------------------------- */

void session_release_dataplane(struct session *s)
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
	session_release_dataplane(s);
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
	session_batch_clear(s);
	frame_reader_free(s->rd);
	frame_writer_free(s->wr);
	free(s);
}

/* Sends a fatal error and ends the session. */
void session_fail(struct session *s, uint64_t req, Bpfmirror__Error__Code code, const char *msg)
{
	s->ag->ctr.sessions_failed++;
	session_send_error(s, req, code, true, msg);
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
	/* Only now may frames use the full size (packets, streams, file data). */
	frame_reader_set_max(s->rd, 0);
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
	return session_send_frame(s, &r);
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
	return session_send_frame(s, &r);
}

/* Ends a session whose answer could not be queued or sent. */
static void close_on_send_error(struct session *s, int err)
{
	char why[160];

	if (err == -ENOBUFS) {
		s->ag->ctr.sessions_failed++;
		snprintf(why, sizeof(why), "%s (%zu bytes unsent)", frame_strerror(err),
			 frame_writer_queued(s->wr));
		session_close(s, why);
		return;
	}
	session_close(s, "connection lost");
}

/* Returns 0 to go on, 1 when the session was closed. */
static int dispatch(struct session *s, const Bpfmirror__Frame *f)
{
	const char *why = NULL;
	char msg[160];
	int err;

	if (wire_validate(f, &why)) {
		/* A well-formed frame with a bad value: that request fails, the
		 * session goes on (docs/protocol.md). */
		snprintf(msg, sizeof(msg), "invalid %s: %s", wire_body_name(f->body_case), why);
		s->ag->ctr.frame_errors++;
		err = session_send_error(s, f->request_id,
					 BPFMIRROR__ERROR__CODE__CODE_INVALID_ARGUMENT, false, msg);
		if (err < 0) {
			close_on_send_error(s, err);
			return 1;
		}
		return 0;
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
			err = session_send_error(s, f->request_id,
						 BPFMIRROR__ERROR__CODE__CODE_UNEXPECTED_MESSAGE,
						 false, "hello: handshake already done");
			break;
		}
		err = on_hello(s, f);
		if (err == -EPROTONOSUPPORT)
			return 1;
		break;
	case BPFMIRROR__FRAME__BODY_ATTACH_REQUEST:
		err = session_on_attach(s, f);
		break;
	case BPFMIRROR__FRAME__BODY_SUBSCRIBE:
		err = session_on_subscribe(s, f, true);
		break;
	case BPFMIRROR__FRAME__BODY_UNSUBSCRIBE:
		err = session_on_subscribe(s, f, false);
		break;
	case BPFMIRROR__FRAME__BODY_PACKET_BATCH:
		err = session_on_packets(s, f);
		break;
	case BPFMIRROR__FRAME__BODY_FILE_REQUEST:
		err = session_on_file(s, f);
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
		session_send_ack(s, f->request_id);
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
		close_on_send_error(s, err);
		return 1;
	}
	return 0;
}

/* A broken byte stream: a fatal Error naming the problem, then the session ends. */
static void fail_stream(struct session *s, int err)
{
	Bpfmirror__Error__Code code = BPFMIRROR__ERROR__CODE__CODE_MALFORMED_FRAME;
	char msg[200];

	if (err == -EPIPE) {
		session_close(s, "client disconnected");
		return;
	}
	s->ag->ctr.frame_errors++;
	if (err == -EMSGSIZE) {
		code = BPFMIRROR__ERROR__CODE__CODE_FRAME_TOO_LARGE;
		snprintf(msg, sizeof(msg), "bad frame: %s (%u bytes%s)", frame_strerror(err),
			 frame_reader_max(s->rd), s->state == S_HELLO ? " before hello" : "");
	} else if (err == -ENOBUFS) {
		code = BPFMIRROR__ERROR__CODE__CODE_RESOURCE_EXHAUSTED;
		snprintf(msg, sizeof(msg),
			 "frame refused: the agent's input buffers are full (%zu of %zu bytes)",
			 s->ag->in_budget.used, s->ag->in_budget.limit);
	} else {
		snprintf(msg, sizeof(msg), "bad frame: %s", frame_strerror(err));
	}
	session_fail(s, 0, code, msg);
}

/*
 * Decodes one payload under a memory cap and checks the limits of its message
 * type; on failure the session is failed and NULL returned.
 */
static Bpfmirror__Frame *decode_frame(struct session *s, const uint8_t *p, size_t len)
{
	Bpfmirror__Frame *f = NULL;
	const char *why = NULL;
	char msg[200];
	int err = wire_decode_limited(p, len, len + BPFMIRROR_DECODE_SLACK, &f);

	if (!err) {
		err = wire_check_limits(f, len, &why);
		if (!err)
			return f;
		snprintf(msg, sizeof(msg), "%s of %zu bytes refused: %s",
			 wire_body_name(f->body_case), len, why);
		wire_frame_free(f);
	} else if (err == -E2BIG) {
		snprintf(msg, sizeof(msg), "bad frame: %s (%zu bytes decode to more than %zu)",
			 frame_strerror(err), len, len + BPFMIRROR_DECODE_SLACK);
	} else {
		snprintf(msg, sizeof(msg), "bad frame: %s", frame_strerror(err));
	}
	s->ag->ctr.frame_errors++;
	session_fail(s, 0, wire_error_code_from_errno(err), msg);
	return NULL;
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
		session_update_interest(s);
		if (s->ag->l7)
			l7steer_session_writable(s->ag->l7, s->id);
	}
	if (!(events & EV_READ))
		return;
	rc = frame_reader_read(s->rd, s->fd);
	if (rc == -EAGAIN)
		return;
	if (rc == -ENOBUFS) {
		fail_stream(s, rc);
		return;
	}
	if (rc < 0) {
		session_close(s, "connection lost");
		return;
	}
	s->last_rx_ms = evloop_now_ms();
	for (;;) {
		Bpfmirror__Frame *f;

		rc = frame_reader_next(s->rd, &payload, &len);
		if (rc == 0)
			return;
		if (rc < 0) {
			fail_stream(s, rc);
			return;
		}
		s->ag->ctr.frames_in++;
		f = decode_frame(s, payload, len);
		if (!f)
			return;
		rc = dispatch(s, f);
		wire_frame_free(f);
		if (rc)
			return;
	}
}

/*
 * Unsent bytes that the client took none of for AGENT_STALL_BEATS heartbeat
 * intervals: it stopped reading. Its queue would hold the agent's memory.
 */
static bool writer_stalled(struct session *s)
{
	uint64_t written = frame_writer_written(s->wr);

	if (frame_writer_pending(s->wr) && written == s->tx_seen)
		s->tx_stalls++;
	else
		s->tx_stalls = 0;
	s->tx_seen = written;
	return s->tx_stalls >= AGENT_STALL_BEATS;
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
	if (writer_stalled(s)) {
		char why[160];
		snprintf(why, sizeof(why), "client is not reading (%zu bytes unsent)",
			 frame_writer_queued(s->wr));
		s->ag->ctr.sessions_failed++;
		s->hb_timer = NULL;
		session_close(s, why);
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
	/* Until Hello, only small frames: a stranger cannot make us buffer 4 MiB. */
	s->rd = frame_reader_new(BPFMIRROR_SMALL_FRAME_MAX);
	s->wr = frame_writer_new(0, AGENT_SESSION_QUEUE_MAX);
	if (!s->rd || !s->wr)
		goto fail;
	frame_reader_set_budget(s->rd, &ag->in_budget, AGENT_SESSION_IN_BASE);
	frame_writer_set_budget(s->wr, &ag->out_budget, AGENT_SESSION_OUT_BASE);
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
	/* A session without its heartbeat timer could linger forever. */
	s->hb_timer = evloop_timer(ag->loop, ag->opts.heartbeat_ms, on_heartbeat_timer, s);
	if (!s->hb_timer) {
		evloop_unwatch(ag->loop, fd);
		goto fail;
	}
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
