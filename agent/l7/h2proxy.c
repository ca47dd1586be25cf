/* Per-stream HTTP/2 routing for filtered steal: a stream-level proxy on libnghttp2. */
#include "h2proxy.h"
#include "bytequeue.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdlib.h>
#include <string.h>

/*
 * Limits that bound what one client connection may cost (see
 * docs/design-router.md, "HTTP/2"). Windows are only reopened when bytes
 * have been handed to the other side (no automatic WINDOW_UPDATE), so the
 * connection windows bound what is buffered in each direction.
 */
#define H2_MAX_STREAMS	   100u
#define H2_MAX_HEADER_LIST (32u * 1024)
#define H2_MAX_HEADERS	   128u
#define H2_STREAM_WINDOW   (256 * 1024)
#define H2_CONN_WINDOW	   (1024 * 1024)
#define H2_MAX_UPS	   8u
#define H2_MAX_DOWN	   16u
#define H2_FREE_RESETS	   100u /* early client resets allowed beyond completed streams */
#define H2_ROOM		   (64u * 1024)
#define H2_PUMP_ROUNDS	   8

struct h2hdrs {
	nghttp2_nv *nv;
	size_t n, cap, bytes;
};

struct h2up {
	uint32_t id; /* 0: free slot */
	uint32_t target;
	nghttp2_session *s;
	bool blocked;
	bool draining; /* GOAWAY received: no new streams on it */
	struct h2proxy *p;
};

struct h2stream {
	struct h2proxy *p;
	struct h2stream *next;
	int32_t cid; /* stream id towards the client */
	int32_t uid; /* stream id on up (0: not submitted) */
	struct h2up *up;
	uint32_t target;
	struct h2hdrs req, req_trl, resp, resp_trl;
	struct bytequeue req_body, resp_body;
	bool req_end, resp_end, resp_final, resp_submitted;
	bool c_open, u_open;
	bool body_sent; /* some request body byte went upstream: no resend */
	bool retried;
};

struct h2proxy {
	const struct router_ops *ops;
	void *ctx;
	const struct route_table *table;
	struct router_stats *rs;
	struct h2proxy_stats st;
	nghttp2_session *server;
	struct h2up ups[H2_MAX_UPS];
	uint32_t next_id;
	uint32_t down[H2_MAX_DOWN];
	unsigned ndown;
	struct h2stream *streams;
	unsigned nstreams;
	uint64_t completed;
	bool client_blocked, client_eof, closed, in_pump;
};

int h2proxy_sniff(const void *data, size_t len)
{
	size_t n = len < H2PROXY_PREFACE_LEN ? len : H2PROXY_PREFACE_LEN;

	if (memcmp(data, H2PROXY_PREFACE, n) != 0)
		return -1;
	return len >= H2PROXY_PREFACE_LEN ? 1 : 0;
}

/* ---- buffers and header lists -------------------------------------------------- */

/* Moves up to MAX bytes of B into OUT; how many. */
static size_t hb_take(struct bytequeue *b, uint8_t *out, size_t max)
{
	size_t n = bq_len(b) < max ? bq_len(b) : max;

	if (!n)
		return 0; /* an empty queue may have no buffer at all */
	memcpy(out, bq_data(b), n);
	bq_consume(b, n);
	return n;
}

static void hdrs_clear(struct h2hdrs *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->nv[i].name); /* value lives in the same block */
	free(h->nv);
	memset(h, 0, sizeof(*h));
}

/* Copies one field; -ENOSPC when the list would exceed the limits. */
static int hdrs_add(struct h2hdrs *h, const uint8_t *name, size_t nlen, const uint8_t *value,
		    size_t vlen)
{
	nghttp2_nv *f;

	/* RFC 9113 6.5.2 counts 32 bytes of overhead per field */
	if (h->n >= H2_MAX_HEADERS || h->bytes + nlen + vlen + 32 > H2_MAX_HEADER_LIST)
		return -ENOSPC;
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;
		nghttp2_nv *nv = realloc(h->nv, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		h->nv = nv;
		h->cap = cap;
	}
	f = &h->nv[h->n];
	f->name = malloc(nlen + vlen + 2);
	if (!f->name)
		return -ENOMEM;
	memcpy(f->name, name, nlen);
	f->name[nlen] = 0;
	f->value = f->name + nlen + 1;
	memcpy(f->value, value, vlen);
	f->value[vlen] = 0;
	f->namelen = nlen;
	f->valuelen = vlen;
	f->flags = NGHTTP2_NV_FLAG_NONE;
	h->n++;
	h->bytes += nlen + vlen + 32;
	return 0;
}

static const nghttp2_nv *hdrs_find(const struct h2hdrs *h, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < h->n; i++)
		if (h->nv[i].namelen == len && memcmp(h->nv[i].name, name, len) == 0)
			return &h->nv[i];
	return NULL;
}

/* ---- routing ----------------------------------------------------------------------- */

static bool target_down(const struct h2proxy *p, uint32_t target)
{
	for (unsigned i = 0; i < p->ndown; i++)
		if (p->down[i] == target)
			return true;
	return false;
}

static void mark_down(struct h2proxy *p, uint32_t target)
{
	if (target != ROUTER_TARGET_APP && !target_down(p, target) && p->ndown < H2_MAX_DOWN)
		p->down[p->ndown++] = target;
}

static struct http1_str nv_str(const nghttp2_nv *nv, bool value)
{
	if (!nv)
		return (struct http1_str){"", 0};
	if (value)
		return (struct http1_str){(const char *)nv->value, nv->valuelen};
	return (struct http1_str){(const char *)nv->name, nv->namelen};
}

/*
 * Presents the request to the HTTP/1.1 matching code: method and target
 * from :method and :path, the regular fields as "name: value" lines, and
 * :authority as a host line when the request has no host field.
 */
static uint32_t pick_target(const struct h2proxy *p, const struct h2hdrs *req)
{
	struct http1_header hv[H2_MAX_HEADERS + 1];
	struct http1_head h = {0};
	const nghttp2_nv *auth = hdrs_find(req, ":authority");
	uint32_t t;

	h.method = nv_str(hdrs_find(req, ":method"), true);
	h.target = nv_str(hdrs_find(req, ":path"), true);
	h.minor = 1;
	for (size_t i = 0; i < req->n; i++) {
		if (req->nv[i].namelen && req->nv[i].name[0] == ':')
			continue;
		hv[h.nheaders].name = nv_str(&req->nv[i], false);
		hv[h.nheaders++].value = nv_str(&req->nv[i], true);
	}
	if (auth && !hdrs_find(req, "host")) {
		hv[h.nheaders].name = (struct http1_str){"host", 4};
		hv[h.nheaders++].value = nv_str(auth, true);
	}
	h.headers = hv;
	t = route_table_pick(p->table, &h);
	return target_down(p, t) ? ROUTER_TARGET_APP : t;
}

/* ---- upstream sessions ------------------------------------------------------------- */

static nghttp2_session_callbacks *up_callbacks(void);

static void session_setup(nghttp2_session *s)
{
	nghttp2_settings_entry iv[] = {
	    {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, H2_MAX_STREAMS},
	    {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_STREAM_WINDOW},
	    {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, H2_MAX_HEADER_LIST},
	    {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
	};

	nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0]));
	nghttp2_session_set_local_window_size(s, NGHTTP2_FLAG_NONE, 0, H2_CONN_WINDOW);
}

static nghttp2_option *session_options(void)
{
	nghttp2_option *opt;

	if (nghttp2_option_new(&opt) != 0)
		return NULL;
	nghttp2_option_set_no_auto_window_update(opt, 1);
	nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
	nghttp2_option_set_max_outbound_ack(opt, 1000);
	nghttp2_option_set_max_settings(opt, 32);
	return opt;
}

static struct h2up *up_new(struct h2proxy *p, uint32_t target)
{
	struct h2up *u = NULL;
	nghttp2_option *opt;
	int rc;

	for (unsigned i = 0; i < H2_MAX_UPS && !u; i++)
		if (!p->ups[i].id)
			u = &p->ups[i];
	opt = session_options();
	if (!u || !opt)
		goto fail;
	*u = (struct h2up){.id = p->next_id++, .target = target, .p = p};
	if (nghttp2_session_client_new2(&u->s, up_callbacks(), u, opt) != 0)
		goto fail_slot;
	session_setup(u->s);
	rc = p->ops->upstream_open(p->ctx, u->id, target);
	if (rc < 0) {
		nghttp2_session_del(u->s);
		goto fail_slot;
	}
	nghttp2_option_del(opt);
	return u;

fail_slot:
	memset(u, 0, sizeof(*u));
fail:
	nghttp2_option_del(opt);
	return NULL;
}

static struct h2up *up_for_target(struct h2proxy *p, uint32_t target)
{
	for (unsigned i = 0; i < H2_MAX_UPS; i++)
		if (p->ups[i].id && p->ups[i].target == target && !p->ups[i].draining)
			return &p->ups[i];
	return up_new(p, target);
}

static struct h2up *up_get(struct h2proxy *p, uint32_t id)
{
	for (unsigned i = 0; i < H2_MAX_UPS; i++)
		if (id && p->ups[i].id == id)
			return &p->ups[i];
	return NULL;
}

/* ---- streams ----------------------------------------------------------------------- */

static void stream_free(struct h2stream *s)
{
	struct h2proxy *p = s->p;

	for (struct h2stream **pp = &p->streams; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	hdrs_clear(&s->req);
	hdrs_clear(&s->req_trl);
	hdrs_clear(&s->resp);
	hdrs_clear(&s->resp_trl);
	bq_free(&s->req_body);
	bq_free(&s->resp_body);
	p->nstreams--;
	free(s);
}

static void stream_maybe_free(struct h2stream *s)
{
	if (!s->c_open && !s->u_open)
		stream_free(s);
}

static void reset_client(struct h2stream *s, uint32_t code)
{
	if (s->c_open)
		nghttp2_submit_rst_stream(s->p->server, NGHTTP2_FLAG_NONE, s->cid, code);
}

static ssize_t req_read(nghttp2_session *session, int32_t sid, uint8_t *buf, size_t length,
			uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	struct h2stream *s = src->ptr;
	size_t n = hb_take(&s->req_body, buf, length);

	(void)ud;
	if (n) {
		s->body_sent = true;
		nghttp2_session_consume(s->p->server, s->cid, n);
	}
	if (!bq_len(&s->req_body) && s->req_end) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		if (s->req_trl.n) {
			*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
			nghttp2_submit_trailer(session, sid, s->req_trl.nv, s->req_trl.n);
		}
	} else if (!n) {
		return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)n;
}

static ssize_t resp_read(nghttp2_session *session, int32_t sid, uint8_t *buf, size_t length,
			 uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	struct h2stream *s = src->ptr;
	size_t n = hb_take(&s->resp_body, buf, length);

	(void)ud;
	if (n && s->up)
		nghttp2_session_consume(s->up->s, s->uid, n);
	if (!bq_len(&s->resp_body) && s->resp_end) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		if (s->resp_trl.n) {
			*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
			nghttp2_submit_trailer(session, sid, s->resp_trl.nv, s->resp_trl.n);
		}
	} else if (!n) {
		return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)n;
}

/* Opens the stream upstream at s->target (the app when that fails). */
static void stream_submit(struct h2stream *s)
{
	struct h2proxy *p = s->p;
	nghttp2_data_provider prd = {.source.ptr = s, .read_callback = req_read};
	bool no_body = s->req_end && !bq_len(&s->req_body) && !s->req_trl.n;
	struct h2up *u = up_for_target(p, s->target);
	int32_t id;

	if (!u && s->target != ROUTER_TARGET_APP) {
		mark_down(p, s->target);
		s->target = ROUTER_TARGET_APP;
		p->rs->fallbacks++;
		u = up_for_target(p, s->target);
	}
	id = u ? nghttp2_submit_request(u->s, NULL, s->req.nv, s->req.n, no_body ? NULL : &prd, s)
	       : -1;
	if (id < 0) {
		p->rs->errors++;
		reset_client(s, NGHTTP2_REFUSED_STREAM);
		return;
	}
	s->up = u;
	s->uid = id;
	s->u_open = true;
	if (s->target == ROUTER_TARGET_APP)
		p->rs->to_app++;
	else
		p->rs->to_sessions++;
}

/* Upstream u is gone: its streams go elsewhere when nothing was answered yet. */
static void up_fail(struct h2proxy *p, struct h2up *u, bool reset)
{
	struct h2stream *s, *next;
	uint32_t id = u->id;

	u->draining = true; /* streams resent below must not land on u again */
	for (s = p->streams; s; s = next) {
		next = s->next;
		if (s->up != u)
			continue;
		s->up = NULL;
		s->uid = 0;
		s->u_open = false;
		if (s->c_open && !s->resp_submitted && !s->body_sent && !s->retried) {
			s->retried = s->target == ROUTER_TARGET_APP;
			if (s->target != ROUTER_TARGET_APP)
				p->rs->fallbacks++;
			mark_down(p, s->target);
			s->target = ROUTER_TARGET_APP;
			stream_submit(s);
		} else if (!s->resp_end) {
			reset_client(s, NGHTTP2_INTERNAL_ERROR);
		}
		stream_maybe_free(s);
	}
	nghttp2_session_del(u->s);
	memset(u, 0, sizeof(*u));
	p->ops->upstream_close(p->ctx, id, reset);
}

/* ---- server session callbacks (client side) -------------------------------------------- */

static int srv_begin_headers(nghttp2_session *session, const nghttp2_frame *f, void *ud)
{
	struct h2proxy *p = ud;
	struct h2stream *s;

	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	s->p = p;
	s->cid = f->hd.stream_id;
	s->c_open = true;
	s->next = p->streams;
	p->streams = s;
	p->nstreams++;
	p->st.streams++;
	nghttp2_session_set_stream_user_data(session, s->cid, s);
	return 0;
}

static int srv_header(nghttp2_session *session, const nghttp2_frame *f, const uint8_t *name,
		      size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
	struct h2proxy *p = ud;
	struct h2stream *s = nghttp2_session_get_stream_user_data(session, f->hd.stream_id);

	(void)flags;
	if (!s || f->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (hdrs_add(f->headers.cat == NGHTTP2_HCAT_REQUEST ? &s->req : &s->req_trl, name, nlen,
		     value, vlen) < 0) {
		p->st.header_overflows++;
		p->rs->h2_rejects++;
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	return 0;
}

static void resume_up(struct h2stream *s)
{
	if (s->up && s->u_open)
		nghttp2_session_resume_data(s->up->s, s->uid);
}

static int srv_frame_recv(nghttp2_session *session, const nghttp2_frame *f, void *ud)
{
	struct h2proxy *p = ud;
	struct h2stream *s = nghttp2_session_get_stream_user_data(session, f->hd.stream_id);
	bool end = f->hd.flags & NGHTTP2_FLAG_END_STREAM;

	if (f->hd.type == NGHTTP2_RST_STREAM) {
		p->st.client_resets++;
		if (s && !s->resp_submitted &&
		    p->st.client_resets > H2_FREE_RESETS + p->completed) {
			/* rapid reset: streams opened and cancelled to make us work */
			p->st.protocol_errors++;
			p->rs->h2_rejects++;
			nghttp2_session_terminate_session(session, NGHTTP2_ENHANCE_YOUR_CALM);
		}
		return 0;
	}
	if (!s || (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA))
		return 0;
	if (end)
		s->req_end = true;
	if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
		p->rs->requests++;
		s->target = pick_target(p, &s->req);
		stream_submit(s);
		return 0;
	}
	resume_up(s);
	return 0;
}

static int srv_data_chunk(nghttp2_session *session, uint8_t flags, int32_t sid, const uint8_t *d,
			  size_t len, void *ud)
{
	struct h2stream *s = nghttp2_session_get_stream_user_data(session, sid);

	(void)flags;
	(void)ud;
	if (!s || !s->u_open) {
		nghttp2_session_consume(session, sid, len);
		return 0;
	}
	/* flow control bounds this: the client's window only reopens as we forward */
	if (bq_append(&s->req_body, d, len) < 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	resume_up(s);
	return 0;
}

static int srv_stream_close(nghttp2_session *session, int32_t sid, uint32_t code, void *ud)
{
	struct h2proxy *p = ud;
	struct h2stream *s = nghttp2_session_get_stream_user_data(session, sid);

	if (!s)
		return 0;
	s->c_open = false;
	if (bq_len(&s->req_body))
		nghttp2_session_consume_connection(session, bq_len(&s->req_body));
	bq_consume(&s->req_body, bq_len(&s->req_body));
	if (code == NGHTTP2_NO_ERROR && s->resp_end)
		p->completed++;
	if (s->u_open)
		nghttp2_submit_rst_stream(s->up->s, NGHTTP2_FLAG_NONE, s->uid,
					  code ? code : NGHTTP2_CANCEL);
	stream_maybe_free(s);
	return 0;
}

/* ---- upstream session callbacks ----------------------------------------------------------- */

static struct h2stream *up_stream(nghttp2_session *session, int32_t sid, void *ud)
{
	struct h2stream *s = nghttp2_session_get_stream_user_data(session, sid);

	return s && s->up == ud && s->uid == sid ? s : NULL;
}

static int up_header(nghttp2_session *session, const nghttp2_frame *f, const uint8_t *name,
		     size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
	struct h2up *u = ud;
	struct h2stream *s = up_stream(session, f->hd.stream_id, ud);

	(void)flags;
	if (!s || f->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (hdrs_add(s->resp_final ? &s->resp_trl : &s->resp, name, nlen, value, vlen) < 0) {
		u->p->st.header_overflows++;
		u->p->rs->h2_rejects++;
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	return 0;
}

static void resume_client(struct h2stream *s)
{
	if (s->c_open && s->resp_submitted)
		nghttp2_session_resume_data(s->p->server, s->cid);
}

/* A complete response header block from upstream: interim, final or trailers. */
static void up_headers_done(struct h2stream *s, bool end)
{
	struct h2proxy *p = s->p;
	nghttp2_data_provider prd = {.source.ptr = s, .read_callback = resp_read};
	const nghttp2_nv *st = hdrs_find(&s->resp, ":status");

	if (s->resp_final) {
		s->resp_end = true;
		resume_client(s);
		return;
	}
	if (st && st->valuelen == 3 && st->value[0] == '1') {
		if (s->c_open)
			nghttp2_submit_headers(p->server, NGHTTP2_FLAG_NONE, s->cid, NULL,
					       s->resp.nv, s->resp.n, NULL);
		hdrs_clear(&s->resp);
		return;
	}
	s->resp_final = true;
	s->resp_end = end;
	if (s->c_open && nghttp2_submit_response(p->server, s->cid, s->resp.nv, s->resp.n,
						 end ? NULL : &prd) == 0)
		s->resp_submitted = true;
	hdrs_clear(&s->resp);
	hdrs_clear(&s->req); /* answered: never resent */
}

static int up_frame_recv(nghttp2_session *session, const nghttp2_frame *f, void *ud)
{
	struct h2up *u = ud;
	struct h2stream *s = up_stream(session, f->hd.stream_id, ud);
	bool end = f->hd.flags & NGHTTP2_FLAG_END_STREAM;

	if (f->hd.type == NGHTTP2_GOAWAY) {
		u->draining = true; /* new streams go on a fresh connection */
		return 0;
	}
	if (!s)
		return 0;
	if (f->hd.type == NGHTTP2_HEADERS)
		up_headers_done(s, end);
	else if (f->hd.type == NGHTTP2_DATA && end) {
		s->resp_end = true;
		resume_client(s);
	}
	return 0;
}

static int up_data_chunk(nghttp2_session *session, uint8_t flags, int32_t sid, const uint8_t *d,
			 size_t len, void *ud)
{
	struct h2stream *s = up_stream(session, sid, ud);

	(void)flags;
	if (!s || !s->c_open) {
		nghttp2_session_consume(session, sid, len);
		return 0;
	}
	if (bq_append(&s->resp_body, d, len) < 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	resume_client(s);
	return 0;
}

static int up_stream_close(nghttp2_session *session, int32_t sid, uint32_t code, void *ud)
{
	struct h2stream *s = up_stream(session, sid, ud);

	if (!s)
		return 0;
	s->u_open = false;
	nghttp2_session_set_stream_user_data(session, sid, NULL);
	if (code == NGHTTP2_REFUSED_STREAM && !s->resp_submitted && !s->body_sent && !s->retried &&
	    s->c_open) {
		/* not processed upstream (RFC 9113 8.7): safe to open again */
		s->retried = true;
		s->up = NULL;
		stream_submit(s);
		return 0;
	}
	if (!s->resp_end) {
		if (bq_len(&s->resp_body))
			nghttp2_session_consume_connection(session, bq_len(&s->resp_body));
		bq_consume(&s->resp_body, bq_len(&s->resp_body));
		reset_client(s, code ? code : NGHTTP2_INTERNAL_ERROR);
	}
	stream_maybe_free(s);
	return 0;
}

static nghttp2_session_callbacks *make_callbacks(bool server)
{
	nghttp2_session_callbacks *cb;

	if (nghttp2_session_callbacks_new(&cb) != 0)
		return NULL;
	nghttp2_session_callbacks_set_on_header_callback(cb, server ? srv_header : up_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, server ? srv_frame_recv
									: up_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, server ? srv_data_chunk
									     : up_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, server ? srv_stream_close
									  : up_stream_close);
	if (server)
		nghttp2_session_callbacks_set_on_begin_headers_callback(cb, srv_begin_headers);
	return cb;
}

/* Built once, never freed: the callback tables are constant. */
static nghttp2_session_callbacks *srv_callbacks(void)
{
	static nghttp2_session_callbacks *cb;

	if (!cb)
		cb = make_callbacks(true);
	return cb;
}

static nghttp2_session_callbacks *up_callbacks(void)
{
	static nghttp2_session_callbacks *cb;

	if (!cb)
		cb = make_callbacks(false);
	return cb;
}

/* ---- driving --------------------------------------------------------------------------------- */

static void finish(struct h2proxy *p, bool reset)
{
	if (p->closed)
		return;
	p->closed = true;
	for (unsigned i = 0; i < H2_MAX_UPS; i++)
		if (p->ups[i].id)
			p->ops->upstream_close(p->ctx, p->ups[i].id, reset);
	p->ops->client_close(p->ctx, reset);
}

/* Writes what session s has to send; <0 on a session error or a failed write. */
static int send_session(struct h2proxy *p, nghttp2_session *s, struct h2up *u, bool *moved)
{
	for (;;) {
		const uint8_t *d;
		ssize_t n = nghttp2_session_mem_send(s, &d);
		int rc;

		if (n <= 0)
			return (int)n;
		*moved = true;
		rc = u ? p->ops->upstream_write(p->ctx, u->id, d, (size_t)n)
		       : p->ops->client_write(p->ctx, d, (size_t)n);
		if (rc < 0)
			return rc;
	}
}

static void pump_ups(struct h2proxy *p, bool *moved)
{
	for (unsigned i = 0; i < H2_MAX_UPS && !p->closed; i++) {
		struct h2up *u = &p->ups[i];
		if (!u->id || u->blocked)
			continue;
		if (send_session(p, u->s, u, moved) < 0)
			up_fail(p, u, true);
		else if (!nghttp2_session_want_read(u->s) && !nghttp2_session_want_write(u->s))
			up_fail(p, u, false);
	}
}

/* Moves bytes until nothing moves; closes the connection when it is over. */
static void pump(struct h2proxy *p)
{
	bool moved = true;

	if (p->in_pump)
		return;
	p->in_pump = true;
	for (int round = 0; moved && round < H2_PUMP_ROUNDS && !p->closed; round++) {
		moved = false;
		pump_ups(p, &moved);
		if (!p->closed && !p->client_blocked &&
		    send_session(p, p->server, NULL, &moved) < 0) {
			p->st.protocol_errors++;
			p->rs->h2_rejects++;
			finish(p, true);
		}
	}
	p->in_pump = false;
	if (p->closed)
		return;
	if (!nghttp2_session_want_read(p->server) && !nghttp2_session_want_write(p->server))
		finish(p, false);
	else if (p->client_eof && !p->nstreams)
		finish(p, false);
}

struct h2proxy *h2proxy_new(const struct router_ops *ops, void *ctx,
			    const struct route_table *table, struct router_stats *stats)
{
	struct h2proxy *p = calloc(1, sizeof(*p));
	nghttp2_option *opt = session_options();

	if (!p || !opt || !srv_callbacks() || !up_callbacks())
		goto err;
	*p = (struct h2proxy){.ops = ops, .ctx = ctx, .table = table, .rs = stats, .next_id = 1};
	if (nghttp2_session_server_new2(&p->server, srv_callbacks(), p, opt) != 0)
		goto err;
	stats->h2 = true;
	session_setup(p->server);
	nghttp2_option_del(opt);
	return p;

err:
	nghttp2_option_del(opt);
	free(p);
	errno = ENOMEM;
	return NULL;
}

void h2proxy_free(struct h2proxy *p)
{
	if (!p)
		return;
	while (p->streams)
		stream_free(p->streams);
	for (unsigned i = 0; i < H2_MAX_UPS; i++)
		if (p->ups[i].id)
			nghttp2_session_del(p->ups[i].s);
	nghttp2_session_del(p->server);
	free(p);
}

size_t h2proxy_client_data(struct h2proxy *p, const void *data, size_t len)
{
	ssize_t n;

	if (p->closed)
		return len;
	n = nghttp2_session_mem_recv(p->server, data, len);
	if (n < 0) {
		/* bad preface, flood, or a fatal protocol error: send the GOAWAY, then close */
		p->st.protocol_errors++;
		p->rs->h2_rejects++;
		p->rs->errors++;
		nghttp2_session_terminate_session(p->server, NGHTTP2_PROTOCOL_ERROR);
		if (!p->client_blocked)
			send_session(p, p->server, NULL, &(bool){false});
		finish(p, false);
		return len;
	}
	pump(p);
	return len;
}

void h2proxy_client_eof(struct h2proxy *p)
{
	struct h2stream *s, *next;

	if (p->closed)
		return;
	p->client_eof = true;
	/* requests the client can no longer finish are cancelled upstream */
	for (s = p->streams; s; s = next) {
		next = s->next;
		if (!s->req_end)
			nghttp2_submit_rst_stream(p->server, NGHTTP2_FLAG_NONE, s->cid,
						  NGHTTP2_CANCEL);
	}
	pump(p);
}

size_t h2proxy_upstream_data(struct h2proxy *p, uint32_t up, const void *data, size_t len)
{
	struct h2up *u = up_get(p, up);

	if (p->closed || !u)
		return len;
	if (nghttp2_session_mem_recv(u->s, data, len) < 0) {
		p->st.protocol_errors++;
		p->rs->h2_rejects++;
		up_fail(p, u, true);
	}
	pump(p);
	return len;
}

void h2proxy_upstream_eof(struct h2proxy *p, uint32_t up)
{
	struct h2up *u = up_get(p, up);

	if (p->closed || !u)
		return;
	up_fail(p, u, false);
	pump(p);
}

void h2proxy_upstream_error(struct h2proxy *p, uint32_t up, int err)
{
	struct h2up *u = up_get(p, up);

	(void)err;
	if (p->closed || !u)
		return;
	up_fail(p, u, true);
	pump(p);
}

void h2proxy_set_client_blocked(struct h2proxy *p, bool blocked)
{
	p->client_blocked = blocked;
	if (!blocked && !p->closed)
		pump(p);
}

void h2proxy_set_upstream_blocked(struct h2proxy *p, uint32_t up, bool blocked)
{
	struct h2up *u = up_get(p, up);

	if (!u)
		return;
	u->blocked = blocked;
	if (!blocked && !p->closed)
		pump(p);
}

size_t h2proxy_client_room(const struct h2proxy *p)
{
	return p->closed || p->client_blocked ? 0 : H2_ROOM;
}

size_t h2proxy_upstream_room(const struct h2proxy *p, uint32_t up)
{
	return p->closed || !up_get((struct h2proxy *)p, up) ? 0 : H2_ROOM;
}

bool h2proxy_done(const struct h2proxy *p)
{
	return p->closed;
}

const struct h2proxy_stats *h2proxy_stats(const struct h2proxy *p)
{
	return &p->st;
}
