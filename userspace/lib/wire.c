/* Control-channel messages: encode/decode/validate Frames and zlib helpers. */
#include "wire.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/*
 * protobuf-c allocates through this while it decodes: every allocation (and
 * malloc's own header) counts, and once LIMIT is reached the next one fails,
 * so the decode stops with NULL and frees what it took. Freeing needs no
 * state: the memory is plain malloc(), as protobuf-c's default allocator.
 */
struct decode_budget {
	size_t used;
	size_t limit;
	bool over;
};

#define ALLOC_OVERHEAD 16u

static void *budget_alloc(void *data, size_t size)
{
	struct decode_budget *b = data;

	if (size > b->limit - b->used || ALLOC_OVERHEAD > b->limit - b->used - size) {
		b->over = true;
		return NULL;
	}
	b->used += size + ALLOC_OVERHEAD;
	return malloc(size ? size : 1);
}

static void budget_free(void *data, void *p)
{
	(void)data;
	free(p);
}

/* Unpacks with DESC under a budget of MEM_MAX bytes (0: none); -E2BIG past it. */
static int unpack_limited(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
			  size_t mem_max, ProtobufCMessage **out)
{
	struct decode_budget b = {.limit = mem_max};
	ProtobufCAllocator a = {.alloc = budget_alloc, .free = budget_free, .allocator_data = &b};

	*out = protobuf_c_message_unpack(desc, mem_max ? &a : NULL, len, buf);
	if (*out)
		return 0;
	return b.over ? -E2BIG : -EPROTO;
}

int wire_decode_limited(const uint8_t *buf, size_t len, size_t mem_max, Bpfmirror__Frame **out)
{
	ProtobufCMessage *m;
	Bpfmirror__Frame *f;
	int err;

	*out = NULL;
	err = unpack_limited(&bpfmirror__frame__descriptor, buf, len, mem_max, &m);
	if (err)
		return err;
	f = (Bpfmirror__Frame *)m;
	/* A body field number from a newer peer lands in unknown fields. */
	if (f->body_case == BPFMIRROR__FRAME__BODY__NOT_SET) {
		bpfmirror__frame__free_unpacked(f, NULL);
		return -ENOMSG;
	}
	*out = f;
	return 0;
}

int wire_decode(const uint8_t *buf, size_t len, Bpfmirror__Frame **out)
{
	return wire_decode_limited(buf, len, 0, out);
}

void wire_frame_free(Bpfmirror__Frame *f)
{
	if (f)
		bpfmirror__frame__free_unpacked(f, NULL);
}

/* ---- validation -------------------------------------------------------- */

static bool port_ok(uint32_t port)
{
	return port >= 1 && port <= 65535;
}

static bool mode_ok(Bpfmirror__Mode m)
{
	return m == BPFMIRROR__MODE__MODE_MIRROR || m == BPFMIRROR__MODE__MODE_STEAL;
}

static bool address_ok(const Bpfmirror__Address *a)
{
	return a && (a->ip.len == 4 || a->ip.len == 16) && a->port <= 65535;
}

static bool conn_ok(const Bpfmirror__Connection *c)
{
	return c && address_ok(c->client) && address_ok(c->server) &&
	       c->client->ip.len == c->server->ip.len;
}

static int validate_attach(const Bpfmirror__AttachRequest *a, const char **why)
{
	if (!a->target) {
		*why = "attach request without target";
		return -EINVAL;
	}
	if (!mode_ok(a->mode)) {
		*why = "unknown mode";
		return -EINVAL;
	}
	for (size_t i = 0; i < a->n_ports; i++) {
		if (!port_ok(a->ports[i])) {
			*why = "port out of range";
			return -EINVAL;
		}
	}
	if (a->port_range_size > 65535) {
		*why = "port range size out of range";
		return -EINVAL;
	}
	return 0;
}

static int validate_batch(const Bpfmirror__PacketBatch *b, const char **why)
{
	if (b->compressed && (b->n_packets || !b->zpackets.len)) {
		*why = "compressed batch must carry zpackets only";
		return -EINVAL;
	}
	for (size_t i = 0; i < b->n_packets; i++) {
		Bpfmirror__Packet__Direction d = b->packets[i]->direction;

		if (d != BPFMIRROR__PACKET__DIRECTION__DIRECTION_INGRESS &&
		    d != BPFMIRROR__PACKET__DIRECTION__DIRECTION_EGRESS) {
			*why = "unknown packet direction";
			return -EINVAL;
		}
	}
	return 0;
}

static int validate_file_request(const Bpfmirror__FileRequest *r, const char **why)
{
	if (r->op < BPFMIRROR__FILE_REQUEST__OP__OP_STAT ||
	    r->op > BPFMIRROR__FILE_REQUEST__OP__OP_WRITE) {
		*why = "unknown file operation";
		return -EINVAL;
	}
	if (r->path[0] != '/') {
		*why = "file path must be absolute";
		return -EINVAL;
	}
	return 0;
}

int wire_validate(const Bpfmirror__Frame *f, const char **why)
{
	static const char *bad_conn = "stream message needs client and server addresses";
	const Bpfmirror__AttachReply *ar;

	*why = NULL;
	switch (f->body_case) {
	case BPFMIRROR__FRAME__BODY_ATTACH_REQUEST:
		return validate_attach(f->attach_request, why);
	case BPFMIRROR__FRAME__BODY_ATTACH_REPLY:
		ar = f->attach_reply;
		if (ar->port_range_hi > 65535 || ar->port_range_lo > ar->port_range_hi) {
			*why = "invalid port range";
			return -EINVAL;
		}
		return 0;
	case BPFMIRROR__FRAME__BODY_SUBSCRIBE:
		if (!port_ok(f->subscribe->port) || !mode_ok(f->subscribe->mode)) {
			*why = "invalid port or mode";
			return -EINVAL;
		}
		return 0;
	case BPFMIRROR__FRAME__BODY_UNSUBSCRIBE:
		if (!port_ok(f->unsubscribe->port)) {
			*why = "port out of range";
			return -EINVAL;
		}
		return 0;
	case BPFMIRROR__FRAME__BODY_PACKET_BATCH:
		return validate_batch(f->packet_batch, why);
	case BPFMIRROR__FRAME__BODY_STREAM_OPEN:
		*why = conn_ok(f->stream_open->conn) ? NULL : bad_conn;
		break;
	case BPFMIRROR__FRAME__BODY_STREAM_DATA:
		*why = conn_ok(f->stream_data->conn) ? NULL : bad_conn;
		break;
	case BPFMIRROR__FRAME__BODY_STREAM_HALF_CLOSE:
		*why = conn_ok(f->stream_half_close->conn) ? NULL : bad_conn;
		break;
	case BPFMIRROR__FRAME__BODY_STREAM_CLOSE:
		*why = conn_ok(f->stream_close->conn) ? NULL : bad_conn;
		break;
	case BPFMIRROR__FRAME__BODY_FILE_REQUEST:
		return validate_file_request(f->file_request, why);
	case BPFMIRROR__FRAME__BODY_FILE_REPLY:
		if (f->file_reply->errnum < 0) {
			*why = "negative errno in file reply";
			return -EINVAL;
		}
		return 0;
	case BPFMIRROR__FRAME__BODY__NOT_SET:
		*why = "frame without body";
		return -EINVAL;
	default:
		return 0;
	}
	return *why ? -EINVAL : 0;
}

/* ---- limits ------------------------------------------------------------ */

/* Bodies that carry bulk data and may use the whole frame size. */
static bool body_is_bulk(Bpfmirror__Frame__BodyCase body)
{
	switch (body) {
	case BPFMIRROR__FRAME__BODY_PACKET_BATCH:
	case BPFMIRROR__FRAME__BODY_STREAM_DATA:
	case BPFMIRROR__FRAME__BODY_FILE_REQUEST:
	case BPFMIRROR__FRAME__BODY_FILE_REPLY:
	case BPFMIRROR__FRAME__BODY_ATTACH_REPLY:
		return true;
	default:
		return false;
	}
}

/* Repeated fields a peer fills: their counts, with the text naming a violation. */
static const char *counts_why(const Bpfmirror__Frame *f)
{
	const Bpfmirror__AttachRequest *a;

	switch (f->body_case) {
	case BPFMIRROR__FRAME__BODY_HELLO:
		return f->hello->n_capabilities > BPFMIRROR_LIST_MAX ? "too many capabilities"
								     : NULL;
	case BPFMIRROR__FRAME__BODY_HELLO_REPLY:
		return f->hello_reply->n_capabilities > BPFMIRROR_LIST_MAX ? "too many capabilities"
									   : NULL;
	case BPFMIRROR__FRAME__BODY_ATTACH_REQUEST:
		a = f->attach_request;
		if (a->n_ports > BPFMIRROR_LIST_MAX)
			return "too many ports";
		return a->target && a->target->n_pod_ips > BPFMIRROR_LIST_MAX ? "too many pod IPs"
									      : NULL;
	case BPFMIRROR__FRAME__BODY_PACKET_BATCH:
		return f->packet_batch->n_packets > BPFMIRROR_BATCH_MAX_PACKETS
			   ? "too many packets in one batch"
			   : NULL;
	default:
		return NULL;
	}
}

int wire_check_limits(const Bpfmirror__Frame *f, size_t len, const char **why)
{
	*why = NULL;
	if (len > BPFMIRROR_SMALL_FRAME_MAX && !body_is_bulk(f->body_case)) {
		*why = "control message larger than the small-frame limit";
		return -EMSGSIZE;
	}
	*why = counts_why(f);
	return *why ? -EMSGSIZE : 0;
}

/* ---- encoding ---------------------------------------------------------- */

int wire_encode(const Bpfmirror__Frame *f, uint8_t **out, size_t *len)
{
	size_t n;
	uint8_t *buf;

	*out = NULL;
	*len = 0;
	if (f->body_case == BPFMIRROR__FRAME__BODY__NOT_SET)
		return -ENOMSG;
	n = bpfmirror__frame__get_packed_size(f);
	/* malloc(0) may return NULL; an empty frame is not possible with a body. */
	buf = malloc(n ? n : 1);
	if (!buf)
		return -ENOMEM;
	*len = bpfmirror__frame__pack(f, buf);
	*out = buf;
	return 0;
}

int wire_send(struct frame_writer *w, const Bpfmirror__Frame *f)
{
	uint8_t *p;
	size_t n;

	if (f->body_case == BPFMIRROR__FRAME__BODY__NOT_SET)
		return -ENOMSG;
	n = bpfmirror__frame__get_packed_size(f);
	p = frame_writer_reserve(w, n);
	if (!p)
		return -errno;
	bpfmirror__frame__pack(f, p);
	return 0;
}

const char *wire_body_name(Bpfmirror__Frame__BodyCase body)
{
	static const char *const names[] = {
	    [BPFMIRROR__FRAME__BODY_HELLO] = "hello",
	    [BPFMIRROR__FRAME__BODY_HELLO_REPLY] = "hello_reply",
	    [BPFMIRROR__FRAME__BODY_ATTACH_REQUEST] = "attach_request",
	    [BPFMIRROR__FRAME__BODY_ATTACH_REPLY] = "attach_reply",
	    [BPFMIRROR__FRAME__BODY_SUBSCRIBE] = "subscribe",
	    [BPFMIRROR__FRAME__BODY_UNSUBSCRIBE] = "unsubscribe",
	    [BPFMIRROR__FRAME__BODY_ACK] = "ack",
	    [BPFMIRROR__FRAME__BODY_PACKET_BATCH] = "packet_batch",
	    [BPFMIRROR__FRAME__BODY_STREAM_OPEN] = "stream_open",
	    [BPFMIRROR__FRAME__BODY_STREAM_DATA] = "stream_data",
	    [BPFMIRROR__FRAME__BODY_STREAM_HALF_CLOSE] = "stream_half_close",
	    [BPFMIRROR__FRAME__BODY_STREAM_CLOSE] = "stream_close",
	    [BPFMIRROR__FRAME__BODY_FILE_REQUEST] = "file_request",
	    [BPFMIRROR__FRAME__BODY_FILE_REPLY] = "file_reply",
	    [BPFMIRROR__FRAME__BODY_HEARTBEAT] = "heartbeat",
	    [BPFMIRROR__FRAME__BODY_DETACH] = "detach",
	    [BPFMIRROR__FRAME__BODY_ERROR] = "error",
	};

	if (body == BPFMIRROR__FRAME__BODY__NOT_SET)
		return "none";
	if ((unsigned)body >= sizeof(names) / sizeof(names[0]) || !names[body])
		return "unknown";
	return names[body];
}

const char *wire_error_code_name(Bpfmirror__Error__Code code)
{
	const ProtobufCEnumValue *v =
	    protobuf_c_enum_descriptor_get_value(&bpfmirror__error__code__descriptor, code);

	/* Generated names are "CODE_X"; logs read better without the prefix. */
	if (!v)
		return "UNKNOWN";
	return strncmp(v->name, "CODE_", 5) == 0 ? v->name + 5 : v->name;
}

/* ---- handshake --------------------------------------------------------- */

int wire_check_hello(const Bpfmirror__Frame *f)
{
	if (f->body_case != BPFMIRROR__FRAME__BODY_HELLO)
		return -ENOMSG;
	if (f->hello->protocol_version != BPFMIRROR_PROTOCOL_VERSION)
		return -EPROTONOSUPPORT;
	return 0;
}

int wire_check_hello_reply(const Bpfmirror__Frame *f)
{
	if (f->body_case != BPFMIRROR__FRAME__BODY_HELLO_REPLY)
		return -ENOMSG;
	if (f->hello_reply->protocol_version != BPFMIRROR_PROTOCOL_VERSION)
		return -EPROTONOSUPPORT;
	return 0;
}

bool wire_has_capability(char *const *caps, size_t n, const char *cap)
{
	for (size_t i = 0; i < n; i++) {
		if (caps[i] && strcmp(caps[i], cap) == 0)
			return true;
	}
	return false;
}

/* ---- errors ------------------------------------------------------------ */

Bpfmirror__Error__Code wire_error_code_from_errno(int err)
{
	switch (-err) {
	case EPROTONOSUPPORT:
		return BPFMIRROR__ERROR__CODE__CODE_UNSUPPORTED_VERSION;
	case EPROTO:
	case ENOMSG:
	case EBADMSG:
		return BPFMIRROR__ERROR__CODE__CODE_MALFORMED_FRAME;
	case EMSGSIZE:
	case E2BIG:
		return BPFMIRROR__ERROR__CODE__CODE_FRAME_TOO_LARGE;
	case EINVAL:
	case EFBIG:
		return BPFMIRROR__ERROR__CODE__CODE_INVALID_ARGUMENT;
	case ENOENT:
	case ESRCH:
		return BPFMIRROR__ERROR__CODE__CODE_NOT_FOUND;
	case EPERM:
	case EACCES:
		return BPFMIRROR__ERROR__CODE__CODE_PERMISSION_DENIED;
	case EEXIST:
	case EBUSY:
	case EADDRINUSE:
		return BPFMIRROR__ERROR__CODE__CODE_CONFLICT;
	case ENOMEM:
	case ENOBUFS:
	case ENOSPC:
		return BPFMIRROR__ERROR__CODE__CODE_RESOURCE_EXHAUSTED;
	case EAGAIN:
	case ETIMEDOUT:
		return BPFMIRROR__ERROR__CODE__CODE_UNAVAILABLE;
	default:
		return BPFMIRROR__ERROR__CODE__CODE_INTERNAL;
	}
}

void wire_error_init(Bpfmirror__Frame *f, Bpfmirror__Error *e, uint64_t request_id,
		     Bpfmirror__Error__Code code, bool fatal, const char *msg)
{
	bpfmirror__frame__init(f);
	bpfmirror__error__init(e);
	e->code = code;
	e->fatal = fatal;
	/* The generated code takes char *; packing only reads it. */
	e->message = (char *)(msg ? msg : "");
	f->request_id = request_id;
	f->body_case = BPFMIRROR__FRAME__BODY_ERROR;
	f->error = e;
}

int wire_send_error(struct frame_writer *w, uint64_t request_id, Bpfmirror__Error__Code code,
		    bool fatal, const char *fmt, ...)
{
	Bpfmirror__Frame f;
	Bpfmirror__Error e;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	wire_error_init(&f, &e, request_id, code, fatal, msg);
	return wire_send(w, &f);
}

/* ---- zlib -------------------------------------------------------------- */

int wire_deflate(const void *in, size_t len, int level, uint8_t **out, size_t *out_len)
{
	uLongf n;
	uint8_t *buf;
	int ret;

	*out = NULL;
	*out_len = 0;
	if (len > UINT32_MAX)
		return -EMSGSIZE;
	n = compressBound(len);
	buf = malloc(n);
	if (!buf)
		return -ENOMEM;
	ret = compress2(buf, &n, in, len, level);
	if (ret != Z_OK) {
		free(buf);
		return ret == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
	}
	*out = buf;
	*out_len = n;
	return 0;
}

/*
 * The output buffer grows up to LIMIT + 1 bytes: filling that last byte proves
 * the stream is longer than LIMIT without ever holding more than that.
 */
int wire_inflate(const void *in, size_t len, size_t limit, uint8_t **out, size_t *out_len)
{
	z_stream zs = {0};
	size_t cap, alloc = 0, cap_max = limit + 1;
	uint8_t *buf = NULL, *p;
	int ret, err = 0;

	*out = NULL;
	*out_len = 0;
	if (len > UINT32_MAX || limit >= UINT32_MAX)
		return -EFBIG;
	if (inflateInit(&zs) != Z_OK)
		return -ENOMEM;
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	cap = len < 1024 ? 4096 : len * 4;
	if (cap > cap_max)
		cap = cap_max;
	for (;;) {
		if (zs.total_out == cap) {
			if (cap == cap_max) {
				err = -EFBIG;
				goto out;
			}
			cap = cap > cap_max / 2 ? cap_max : cap * 2;
		}
		if (cap != alloc) {
			p = realloc(buf, cap);
			if (!p) {
				err = -ENOMEM;
				goto out;
			}
			buf = p;
			alloc = cap;
		}
		zs.next_out = buf + zs.total_out;
		zs.avail_out = (uInt)(cap - zs.total_out);
		ret = inflate(&zs, Z_NO_FLUSH);
		if (ret == Z_STREAM_END)
			break;
		if (ret == Z_MEM_ERROR) {
			err = -ENOMEM;
			goto out;
		}
		/* Out of input with room left: the stream was cut short. */
		if ((ret != Z_OK && ret != Z_BUF_ERROR) || (zs.avail_in == 0 && zs.avail_out > 0)) {
			err = -EBADMSG;
			goto out;
		}
	}
	if (zs.total_out > limit) {
		err = -EFBIG;
		goto out;
	}
	if (zs.avail_in != 0) {
		err = -EBADMSG; /* trailing bytes after the stream */
		goto out;
	}
	*out = buf;
	*out_len = zs.total_out;
	buf = NULL;
out:
	inflateEnd(&zs);
	free(buf);
	return err;
}

int wire_batch_compress(const Bpfmirror__PacketBatch *plain, Bpfmirror__PacketBatch *out)
{
	uint8_t *raw = NULL, *z = NULL;
	size_t n, zn;
	int err;

	if (plain->compressed)
		return -EINVAL;
	n = bpfmirror__packet_batch__get_packed_size(plain);
	if (n > BPFMIRROR_INFLATE_MAX)
		return -EMSGSIZE;
	raw = malloc(n ? n : 1);
	if (!raw)
		return -ENOMEM;
	bpfmirror__packet_batch__pack(plain, raw);
	err = wire_deflate(raw, n, Z_BEST_SPEED, &z, &zn);
	if (err)
		goto out;
	out->n_packets = 0;
	out->packets = NULL;
	out->compressed = true;
	out->zpackets.data = z;
	out->zpackets.len = zn;
	out->raw_len = (uint32_t)n;
out:
	free(raw);
	return err;
}

void wire_batch_release(Bpfmirror__PacketBatch *compressed)
{
	free(compressed->zpackets.data);
	compressed->zpackets.data = NULL;
	compressed->zpackets.len = 0;
}

int wire_batch_decompress(const Bpfmirror__PacketBatch *in, size_t limit,
			  Bpfmirror__PacketBatch **out)
{
	ProtobufCMessage *m = NULL;
	Bpfmirror__PacketBatch *b;
	uint8_t *raw = NULL;
	size_t n;
	int err;

	*out = NULL;
	if (!in->compressed)
		return -EINVAL;
	if (limit > BPFMIRROR_BATCH_RAW_MAX)
		limit = BPFMIRROR_BATCH_RAW_MAX;
	if (in->raw_len > limit)
		return -EFBIG;
	err = wire_inflate(in->zpackets.data, in->zpackets.len, in->raw_len, &raw, &n);
	if (err)
		return err;
	if (n != in->raw_len) {
		err = -EBADMSG;
		goto out;
	}
	err = unpack_limited(&bpfmirror__packet_batch__descriptor, raw, n,
			     n + BPFMIRROR_DECODE_SLACK, &m);
	if (err)
		goto out;
	b = (Bpfmirror__PacketBatch *)m;
	/* Nested compression would let a bomb hide behind raw_len. */
	if (b->compressed || b->n_packets > BPFMIRROR_BATCH_MAX_PACKETS) {
		err = b->compressed ? -EPROTO : -EMSGSIZE;
		bpfmirror__packet_batch__free_unpacked(b, NULL);
		goto out;
	}
	*out = b;
out:
	free(raw);
	return err;
}

void wire_batch_free(Bpfmirror__PacketBatch *b)
{
	if (b)
		bpfmirror__packet_batch__free_unpacked(b, NULL);
}
