/* Unit tests for the envelope codec, handshake checks, error frames and zlib helpers. */
#include "wire.h"
#include "testutil.h"

#include <errno.h>
#include <string.h>
#include <zlib.h>

/* Encodes F, decodes it again, and checks the re-encoding is byte-identical. */
static Bpfmirror__Frame *roundtrip(const Bpfmirror__Frame *f)
{
	Bpfmirror__Frame *back = NULL;
	uint8_t *a, *b;
	size_t na, nb;
	const char *why;

	ck_assert_int_eq(wire_encode(f, &a, &na), 0);
	ck_assert_int_eq(wire_decode(a, na, &back), 0);
	ck_assert_ptr_nonnull(back);
	ck_assert_int_eq(back->body_case, f->body_case);
	ck_assert_uint_eq(back->request_id, f->request_id);
	ck_assert_int_eq(wire_validate(back, &why), 0);
	ck_assert_int_eq(wire_encode(back, &b, &nb), 0);
	ck_assert_uint_eq(na, nb);
	ck_assert_mem_eq(a, b, na);
	free(a);
	free(b);
	return back;
}

static uint8_t ip4_client[4] = {10, 0, 0, 7}, ip4_pod[4] = {10, 244, 1, 5};

static void fill_conn(Bpfmirror__Connection *c, Bpfmirror__Address *cl, Bpfmirror__Address *sv)
{
	bpfmirror__connection__init(c);
	bpfmirror__address__init(cl);
	bpfmirror__address__init(sv);
	cl->ip.data = ip4_client;
	cl->ip.len = 4;
	cl->port = 51234;
	sv->ip.data = ip4_pod;
	sv->ip.len = 4;
	sv->port = 8080;
	c->client = cl;
	c->server = sv;
}

START_TEST(roundtrip_handshake)
{
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT, *back;
	Bpfmirror__Hello h = BPFMIRROR__HELLO__INIT;
	Bpfmirror__HelloReply hr = BPFMIRROR__HELLO_REPLY__INIT;
	char *caps[] = {BPFMIRROR_CAP_PACKET_ZLIB, BPFMIRROR_CAP_FILES};

	h.protocol_version = BPFMIRROR_PROTOCOL_VERSION;
	h.capabilities = caps;
	h.n_capabilities = 2;
	h.client_identity = "alice@laptop";
	h.client_version = "0.1.0";
	f.request_id = 1;
	f.body_case = BPFMIRROR__FRAME__BODY_HELLO;
	f.hello = &h;
	back = roundtrip(&f);
	ck_assert_int_eq(wire_check_hello(back), 0);
	ck_assert_str_eq(back->hello->client_identity, "alice@laptop");
	ck_assert(wire_has_capability(back->hello->capabilities, back->hello->n_capabilities,
				      BPFMIRROR_CAP_FILES));
	ck_assert(!wire_has_capability(back->hello->capabilities, back->hello->n_capabilities,
				       BPFMIRROR_CAP_STEAL));
	wire_frame_free(back);

	hr.protocol_version = BPFMIRROR_PROTOCOL_VERSION;
	hr.capabilities = caps;
	hr.n_capabilities = 1;
	hr.node_name = "node-1";
	hr.agent_version = "0.1.0";
	f.body_case = BPFMIRROR__FRAME__BODY_HELLO_REPLY;
	f.hello_reply = &hr;
	back = roundtrip(&f);
	ck_assert_int_eq(wire_check_hello_reply(back), 0);
	ck_assert_str_eq(back->hello_reply->node_name, "node-1");
	wire_frame_free(back);
}
END_TEST

START_TEST(roundtrip_attach)
{
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT, *back;
	Bpfmirror__AttachRequest a = BPFMIRROR__ATTACH_REQUEST__INIT;
	Bpfmirror__Target t = BPFMIRROR__TARGET__INIT;
	Bpfmirror__HttpFilter hf = BPFMIRROR__HTTP_FILTER__INIT;
	Bpfmirror__AttachReply ar = BPFMIRROR__ATTACH_REPLY__INIT;
	Bpfmirror__KeyValue kv1 = BPFMIRROR__KEY_VALUE__INIT, kv2 = BPFMIRROR__KEY_VALUE__INIT;
	Bpfmirror__KeyValue *env[] = {&kv1, &kv2};
	char *ips[] = {"10.244.1.5", "fd00::5"};
	uint32_t ports[] = {80, 8080};
	uint8_t resolv[] = "nameserver 10.96.0.10\nsearch default.svc.cluster.local\n";

	t.namespace_ = "default";
	t.pod_name = "ip-visit-counter-7d9f";
	t.pod_uid = "5f1c0f6e-1111-2222-3333-444455556666";
	t.pod_ips = ips;
	t.n_pod_ips = 2;
	t.container_id = "containerd://abcdef";
	t.container_name = "app";
	hf.header_regex = "^X-Dev: alice$";
	hf.path_regex = "^/count";
	a.target = &t;
	a.ports = ports;
	a.n_ports = 2;
	a.mode = BPFMIRROR__MODE__MODE_STEAL;
	a.http_filter = &hf;
	a.port_range_size = 1024;
	f.request_id = 2;
	f.body_case = BPFMIRROR__FRAME__BODY_ATTACH_REQUEST;
	f.attach_request = &a;
	back = roundtrip(&f);
	ck_assert_str_eq(back->attach_request->target->namespace_, "default");
	ck_assert_uint_eq(back->attach_request->target->n_pod_ips, 2);
	ck_assert_str_eq(back->attach_request->target->pod_ips[1], "fd00::5");
	ck_assert_uint_eq(back->attach_request->ports[1], 8080);
	ck_assert_int_eq(back->attach_request->mode, BPFMIRROR__MODE__MODE_STEAL);
	ck_assert_str_eq(back->attach_request->http_filter->path_regex, "^/count");
	wire_frame_free(back);

	kv1.key = "REDIS_HOST";
	kv1.value = "redis";
	kv2.key = "EMPTY";
	kv2.value = "";
	ar.session_id = "s-42";
	ar.env = env;
	ar.n_env = 2;
	ar.resolv_conf.data = resolv;
	ar.resolv_conf.len = sizeof(resolv) - 1;
	ar.port_range_lo = 60000;
	ar.port_range_hi = 61023;
	ar.pod_ip = "10.244.1.5";
	f.body_case = BPFMIRROR__FRAME__BODY_ATTACH_REPLY;
	f.attach_reply = &ar;
	back = roundtrip(&f);
	ck_assert_str_eq(back->attach_reply->env[0]->value, "redis");
	ck_assert_uint_eq(back->attach_reply->resolv_conf.len, sizeof(resolv) - 1);
	ck_assert_uint_eq(back->attach_reply->port_range_hi, 61023);
	ck_assert_ptr_null(back->attach_reply->error);
	wire_frame_free(back);
}
END_TEST

START_TEST(roundtrip_subscribe_ack_detach_heartbeat)
{
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT, *back;
	Bpfmirror__Subscribe s = BPFMIRROR__SUBSCRIBE__INIT;
	Bpfmirror__Unsubscribe u = BPFMIRROR__UNSUBSCRIBE__INIT;
	Bpfmirror__Ack ack = BPFMIRROR__ACK__INIT;
	Bpfmirror__Detach d = BPFMIRROR__DETACH__INIT;
	Bpfmirror__Heartbeat hb = BPFMIRROR__HEARTBEAT__INIT;

	s.port = 8080;
	s.mode = BPFMIRROR__MODE__MODE_MIRROR;
	f.request_id = 3;
	f.body_case = BPFMIRROR__FRAME__BODY_SUBSCRIBE;
	f.subscribe = &s;
	back = roundtrip(&f);
	ck_assert_uint_eq(back->subscribe->port, 8080);
	wire_frame_free(back);

	u.port = 8080;
	f.body_case = BPFMIRROR__FRAME__BODY_UNSUBSCRIBE;
	f.unsubscribe = &u;
	wire_frame_free(roundtrip(&f));

	f.body_case = BPFMIRROR__FRAME__BODY_ACK;
	f.ack = &ack;
	wire_frame_free(roundtrip(&f));

	d.reason = "user pressed ^C";
	f.body_case = BPFMIRROR__FRAME__BODY_DETACH;
	f.detach = &d;
	back = roundtrip(&f);
	ck_assert_str_eq(back->detach->reason, "user pressed ^C");
	wire_frame_free(back);

	hb.seq = UINT64_MAX;
	hb.timestamp_ns = 123456789;
	f.body_case = BPFMIRROR__FRAME__BODY_HEARTBEAT;
	f.heartbeat = &hb;
	back = roundtrip(&f);
	ck_assert_uint_eq(back->heartbeat->seq, UINT64_MAX);
	wire_frame_free(back);
}
END_TEST

START_TEST(roundtrip_packets)
{
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT, *back;
	Bpfmirror__PacketBatch b = BPFMIRROR__PACKET_BATCH__INIT, z = BPFMIRROR__PACKET_BATCH__INIT;
	Bpfmirror__PacketBatch *plain;
	Bpfmirror__Packet pk[3], *pp[3];
	uint8_t data[3][60];

	for (int i = 0; i < 3; i++) {
		bpfmirror__packet__init(&pk[i]);
		memset(data[i], 0x45 + i, sizeof(data[i]));
		pk[i].data.data = data[i];
		pk[i].data.len = sizeof(data[i]);
		pk[i].direction = i == 1 ? BPFMIRROR__PACKET__DIRECTION__DIRECTION_EGRESS
					 : BPFMIRROR__PACKET__DIRECTION__DIRECTION_INGRESS;
		pk[i].flags = 1u << i;
		pk[i].reason = 7;
		pk[i].timestamp_ns = 1000 + i;
		pp[i] = &pk[i];
	}
	b.packets = pp;
	b.n_packets = 3;
	f.body_case = BPFMIRROR__FRAME__BODY_PACKET_BATCH;
	f.packet_batch = &b;
	back = roundtrip(&f);
	ck_assert_uint_eq(back->packet_batch->n_packets, 3);
	ck_assert_mem_eq(back->packet_batch->packets[2]->data.data, data[2], 60);
	ck_assert_int_eq(back->packet_batch->packets[1]->direction,
			 BPFMIRROR__PACKET__DIRECTION__DIRECTION_EGRESS);
	wire_frame_free(back);

	/* The same batch, compressed as a whole. */
	ck_assert_int_eq(wire_batch_compress(&b, &z), 0);
	ck_assert(z.compressed);
	ck_assert_uint_lt(z.zpackets.len, z.raw_len);
	f.packet_batch = &z;
	back = roundtrip(&f);
	ck_assert_int_eq(wire_batch_decompress(back->packet_batch, BPFMIRROR_INFLATE_MAX, &plain),
			 0);
	ck_assert_uint_eq(plain->n_packets, 3);
	ck_assert_uint_eq(plain->packets[2]->timestamp_ns, 1002);
	ck_assert_mem_eq(plain->packets[0]->data.data, data[0], 60);
	wire_batch_free(plain);
	/* Limits and inconsistencies. */
	ck_assert_int_eq(wire_batch_decompress(back->packet_batch, 10, &plain), -EFBIG);
	ck_assert_ptr_null(plain);
	back->packet_batch->raw_len--;
	ck_assert_int_eq(wire_batch_decompress(back->packet_batch, BPFMIRROR_INFLATE_MAX, &plain),
			 -EFBIG);
	back->packet_batch->raw_len += 2;
	ck_assert_int_eq(wire_batch_decompress(back->packet_batch, BPFMIRROR_INFLATE_MAX, &plain),
			 -EBADMSG);
	ck_assert_int_eq(wire_batch_decompress(&b, BPFMIRROR_INFLATE_MAX, &plain), -EINVAL);
	wire_frame_free(back);
	wire_batch_release(&z);
}
END_TEST

START_TEST(roundtrip_streams)
{
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT, *back;
	Bpfmirror__Connection c;
	Bpfmirror__Address cl, sv;
	Bpfmirror__StreamOpen so = BPFMIRROR__STREAM_OPEN__INIT;
	Bpfmirror__StreamData sd = BPFMIRROR__STREAM_DATA__INIT;
	Bpfmirror__StreamHalfClose sh = BPFMIRROR__STREAM_HALF_CLOSE__INIT;
	Bpfmirror__StreamClose sc = BPFMIRROR__STREAM_CLOSE__INIT;
	uint8_t req[] = "GET /count HTTP/1.1\r\nX-Dev: alice\r\n\r\n";

	fill_conn(&c, &cl, &sv);
	so.stream_id = 9;
	so.conn = &c;
	f.body_case = BPFMIRROR__FRAME__BODY_STREAM_OPEN;
	f.stream_open = &so;
	back = roundtrip(&f);
	ck_assert_uint_eq(back->stream_open->conn->client->port, 51234);
	ck_assert_mem_eq(back->stream_open->conn->server->ip.data, ip4_pod, 4);
	wire_frame_free(back);

	sd.stream_id = 9;
	sd.conn = &c;
	sd.data.data = req;
	sd.data.len = sizeof(req) - 1;
	f.body_case = BPFMIRROR__FRAME__BODY_STREAM_DATA;
	f.stream_data = &sd;
	back = roundtrip(&f);
	ck_assert_mem_eq(back->stream_data->data.data, req, sizeof(req) - 1);
	wire_frame_free(back);

	sh.stream_id = 9;
	sh.conn = &c;
	f.body_case = BPFMIRROR__FRAME__BODY_STREAM_HALF_CLOSE;
	f.stream_half_close = &sh;
	wire_frame_free(roundtrip(&f));

	sc.stream_id = 9;
	sc.conn = &c;
	sc.reset = true;
	f.body_case = BPFMIRROR__FRAME__BODY_STREAM_CLOSE;
	f.stream_close = &sc;
	back = roundtrip(&f);
	ck_assert(back->stream_close->reset);
	wire_frame_free(back);
}
END_TEST

START_TEST(roundtrip_files)
{
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT, *back;
	Bpfmirror__FileRequest rq = BPFMIRROR__FILE_REQUEST__INIT;
	Bpfmirror__FileReply rp = BPFMIRROR__FILE_REPLY__INIT;
	Bpfmirror__FileStat st = BPFMIRROR__FILE_STAT__INIT, st2 = BPFMIRROR__FILE_STAT__INIT;
	Bpfmirror__DirEntry de = BPFMIRROR__DIR_ENTRY__INIT, *des[] = {&de};
	static const char text[] = "Hello from the pod! Hello from the pod! Hello from the pod!";
	uint8_t *z, *raw;
	size_t zn, rawn;

	rq.op = BPFMIRROR__FILE_REQUEST__OP__OP_READ;
	rq.path = "/app/response.txt";
	rq.offset = 0;
	rq.length = 65536;
	f.request_id = 77;
	f.body_case = BPFMIRROR__FRAME__BODY_FILE_REQUEST;
	f.file_request = &rq;
	back = roundtrip(&f);
	ck_assert_int_eq(back->file_request->op, BPFMIRROR__FILE_REQUEST__OP__OP_READ);
	ck_assert_str_eq(back->file_request->path, "/app/response.txt");
	wire_frame_free(back);

	ck_assert_int_eq(wire_deflate(text, sizeof(text) - 1, -1, &z, &zn), 0);
	st.mode = 0100644;
	st.size = sizeof(text) - 1;
	st.mtime_sec = -1; /* before the epoch: signed on the wire */
	st2.mode = 0120777;
	st2.link_target = "/etc/hostname";
	de.name = "link";
	de.stat = &st2;
	rp.stat = &st;
	rp.entries = des;
	rp.n_entries = 1;
	rp.data.data = z;
	rp.data.len = zn;
	rp.compressed = true;
	rp.raw_len = sizeof(text) - 1;
	rp.eof = true;
	f.body_case = BPFMIRROR__FRAME__BODY_FILE_REPLY;
	f.file_reply = &rp;
	back = roundtrip(&f);
	ck_assert_int_eq(back->file_reply->stat->mtime_sec, -1);
	ck_assert_str_eq(back->file_reply->entries[0]->stat->link_target, "/etc/hostname");
	ck_assert_int_eq(wire_inflate(back->file_reply->data.data, back->file_reply->data.len,
				      back->file_reply->raw_len, &raw, &rawn),
			 0);
	ck_assert_uint_eq(rawn, sizeof(text) - 1);
	ck_assert_mem_eq(raw, text, rawn);
	free(raw);
	free(z);
	wire_frame_free(back);
}
END_TEST

START_TEST(error_frames)
{
	struct frame_writer *w = frame_writer_new(0, 0);
	struct frame_reader *r = frame_reader_new(0);
	Bpfmirror__Frame f, *back;
	Bpfmirror__Error e;
	const uint8_t *d, *p;
	size_t n, plen;

	wire_error_init(&f, &e, 5, BPFMIRROR__ERROR__CODE__CODE_NOT_FOUND, false, "no such pod");
	back = roundtrip(&f);
	ck_assert_str_eq(back->error->message, "no such pod");
	wire_frame_free(back);

	ck_assert_int_eq(wire_send_error(w, 6, wire_error_code_from_errno(-EMSGSIZE), true,
					 "frame of %u bytes: %s", 5000000u,
					 frame_strerror(-EMSGSIZE)),
			 0);
	frame_writer_peek(w, &d, &n);
	ck_assert_int_eq(frame_reader_feed(r, d, n), 0);
	ck_assert_int_eq(frame_reader_next(r, &p, &plen), 1);
	ck_assert_int_eq(wire_decode(p, plen, &back), 0);
	ck_assert_int_eq(back->body_case, BPFMIRROR__FRAME__BODY_ERROR);
	ck_assert_uint_eq(back->request_id, 6);
	ck_assert_int_eq(back->error->code, BPFMIRROR__ERROR__CODE__CODE_FRAME_TOO_LARGE);
	ck_assert(back->error->fatal);
	ck_assert_str_eq(back->error->message,
			 "frame of 5000000 bytes: frame larger than the maximum frame size");
	ck_assert_str_eq(wire_error_code_name(back->error->code), "FRAME_TOO_LARGE");
	wire_frame_free(back);
	frame_reader_free(r);
	frame_writer_free(w);

	ck_assert_int_eq(wire_error_code_from_errno(-EPROTONOSUPPORT),
			 BPFMIRROR__ERROR__CODE__CODE_UNSUPPORTED_VERSION);
	ck_assert_int_eq(wire_error_code_from_errno(-EPROTO),
			 BPFMIRROR__ERROR__CODE__CODE_MALFORMED_FRAME);
	ck_assert_int_eq(wire_error_code_from_errno(-EACCES),
			 BPFMIRROR__ERROR__CODE__CODE_PERMISSION_DENIED);
	ck_assert_int_eq(wire_error_code_from_errno(-EIO), BPFMIRROR__ERROR__CODE__CODE_INTERNAL);
	ck_assert_str_eq(wire_error_code_name(999), "UNKNOWN");
}
END_TEST

START_TEST(unknown_version)
{
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT, *back;
	Bpfmirror__Hello h = BPFMIRROR__HELLO__INIT;
	Bpfmirror__HelloReply hr = BPFMIRROR__HELLO_REPLY__INIT;

	h.protocol_version = BPFMIRROR_PROTOCOL_VERSION + 1;
	f.body_case = BPFMIRROR__FRAME__BODY_HELLO;
	f.hello = &h;
	back = roundtrip(&f);
	ck_assert_int_eq(wire_check_hello(back), -EPROTONOSUPPORT);
	ck_assert_int_eq(wire_check_hello_reply(back), -ENOMSG);
	wire_frame_free(back);
	h.protocol_version = 0; /* a peer that did not set it */
	ck_assert_int_eq(wire_check_hello(&f), -EPROTONOSUPPORT);

	hr.protocol_version = 2;
	f.body_case = BPFMIRROR__FRAME__BODY_HELLO_REPLY;
	f.hello_reply = &hr;
	ck_assert_int_eq(wire_check_hello_reply(&f), -EPROTONOSUPPORT);
	ck_assert_int_eq(wire_check_hello(&f), -ENOMSG);
}
END_TEST

START_TEST(malformed)
{
	Bpfmirror__Frame *f = (Bpfmirror__Frame *)1;
	/* Field 1 varint that never ends. */
	static const uint8_t trunc_varint[] = {0x08, 0xff, 0xff};
	/* Field 10 (hello) claims 50 bytes, has 2. */
	static const uint8_t short_body[] = {0x52, 50, 0x08, 0x01};
	/* Wire type 7 does not exist. */
	static const uint8_t bad_type[] = {0x0f, 0x00};
	/* Only field 99 (unknown, length-delimited): no body we know. */
	static const uint8_t unknown_body[] = {0x9a, 0x06, 0x01, 0x00};
	/* Hello with a string field holding invalid UTF-8. */
	static const uint8_t bad_utf8[] = {0x52, 0x04, 0x1a, 0x02, 0xc3, 0x28};

	ck_assert_int_eq(wire_decode(trunc_varint, sizeof(trunc_varint), &f), -EPROTO);
	ck_assert_ptr_null(f);
	ck_assert_int_eq(wire_decode(short_body, sizeof(short_body), &f), -EPROTO);
	ck_assert_int_eq(wire_decode(bad_type, sizeof(bad_type), &f), -EPROTO);
	ck_assert_int_eq(wire_decode(unknown_body, sizeof(unknown_body), &f), -ENOMSG);
	ck_assert_ptr_null(f);
	ck_assert_int_eq(wire_decode((const uint8_t *)"", 0, &f), -ENOMSG);
	ck_assert_int_le(wire_decode(bad_utf8, sizeof(bad_utf8), &f), 0);
	wire_frame_free(f);
}
END_TEST

START_TEST(validation)
{
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT;
	Bpfmirror__Subscribe s = BPFMIRROR__SUBSCRIBE__INIT;
	Bpfmirror__AttachRequest a = BPFMIRROR__ATTACH_REQUEST__INIT;
	Bpfmirror__Target t = BPFMIRROR__TARGET__INIT;
	Bpfmirror__StreamData sd = BPFMIRROR__STREAM_DATA__INIT;
	Bpfmirror__FileRequest rq = BPFMIRROR__FILE_REQUEST__INIT;
	Bpfmirror__Connection c;
	Bpfmirror__Address cl, sv;
	uint32_t ports[] = {80, 70000};
	const char *why;

	ck_assert_int_eq(wire_validate(&f, &why), -EINVAL);
	f.body_case = BPFMIRROR__FRAME__BODY_SUBSCRIBE;
	f.subscribe = &s;
	ck_assert_int_eq(wire_validate(&f, &why), -EINVAL); /* port 0 */
	s.port = 443;
	ck_assert_int_eq(wire_validate(&f, &why), 0);
	ck_assert_ptr_null(why);
	s.mode = 7;
	ck_assert_int_eq(wire_validate(&f, &why), -EINVAL);
	ck_assert_str_eq(why, "invalid port or mode");

	f.body_case = BPFMIRROR__FRAME__BODY_ATTACH_REQUEST;
	f.attach_request = &a;
	ck_assert_int_eq(wire_validate(&f, &why), -EINVAL);
	ck_assert_str_eq(why, "attach request without target");
	a.target = &t;
	a.ports = ports;
	a.n_ports = 2;
	ck_assert_int_eq(wire_validate(&f, &why), -EINVAL);
	a.n_ports = 1;
	ck_assert_int_eq(wire_validate(&f, &why), 0);

	f.body_case = BPFMIRROR__FRAME__BODY_STREAM_DATA;
	f.stream_data = &sd;
	ck_assert_int_eq(wire_validate(&f, &why), -EINVAL);
	fill_conn(&c, &cl, &sv);
	sd.conn = &c;
	ck_assert_int_eq(wire_validate(&f, &why), 0);
	cl.ip.len = 3;
	ck_assert_int_eq(wire_validate(&f, &why), -EINVAL);

	f.body_case = BPFMIRROR__FRAME__BODY_FILE_REQUEST;
	f.file_request = &rq;
	rq.path = "etc/passwd";
	ck_assert_int_eq(wire_validate(&f, &why), -EINVAL);
	rq.path = "/etc/passwd";
	ck_assert_int_eq(wire_validate(&f, &why), 0);
	rq.op = 9;
	ck_assert_int_eq(wire_validate(&f, &why), -EINVAL);
}
END_TEST

START_TEST(send_limits)
{
	struct frame_writer *w = frame_writer_new(64, 0);
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT;
	Bpfmirror__Detach d = BPFMIRROR__DETACH__INIT;
	char reason[100];
	uint8_t *buf;
	size_t n;

	ck_assert_int_eq(wire_send(w, &f), -ENOMSG);
	ck_assert_int_eq(wire_encode(&f, &buf, &n), -ENOMSG);
	memset(reason, 'x', sizeof(reason) - 1);
	reason[sizeof(reason) - 1] = '\0';
	d.reason = reason;
	f.body_case = BPFMIRROR__FRAME__BODY_DETACH;
	f.detach = &d;
	ck_assert_int_eq(wire_send(w, &f), -EMSGSIZE);
	ck_assert(!frame_writer_pending(w));
	d.reason = "bye";
	ck_assert_int_eq(wire_send(w, &f), 0);
	ck_assert(frame_writer_pending(w));
	frame_writer_free(w);
	ck_assert_str_eq(wire_body_name(BPFMIRROR__FRAME__BODY_DETACH), "detach");
	ck_assert_str_eq(wire_body_name(BPFMIRROR__FRAME__BODY__NOT_SET), "none");
	ck_assert_str_eq(wire_body_name(1000), "unknown");
}
END_TEST

START_TEST(zlib_helpers)
{
	static const char text[] = "abcabcabcabcabcabcabcabcabcabcabc";
	uint8_t *z, *raw, *bad;
	size_t zn, rawn;

	ck_assert_int_eq(wire_deflate(text, sizeof(text), 6, &z, &zn), 0);
	ck_assert_int_eq(wire_inflate(z, zn, sizeof(text), &raw, &rawn), 0);
	ck_assert_uint_eq(rawn, sizeof(text));
	ck_assert_mem_eq(raw, text, rawn);
	free(raw);
	/* One byte short of the limit: refused, nothing returned. */
	ck_assert_int_eq(wire_inflate(z, zn, sizeof(text) - 1, &raw, &rawn), -EFBIG);
	ck_assert_ptr_null(raw);
	/* Truncated stream, trailing garbage, corrupted bytes. */
	ck_assert_int_eq(wire_inflate(z, zn - 3, 1000, &raw, &rawn), -EBADMSG);
	bad = malloc(zn + 2);
	memcpy(bad, z, zn);
	bad[zn] = 1;
	bad[zn + 1] = 2;
	ck_assert_int_eq(wire_inflate(bad, zn + 2, 1000, &raw, &rawn), -EBADMSG);
	memset(bad + 2, 0xa5, zn - 2);
	ck_assert_int_eq(wire_inflate(bad, zn, 1000, &raw, &rawn), -EBADMSG);
	ck_assert_int_eq(wire_inflate("not zlib", 8, 1000, &raw, &rawn), -EBADMSG);
	ck_assert_int_eq(wire_inflate("", 0, 1000, &raw, &rawn), -EBADMSG);
	free(bad);
	free(z);
	/* Empty input compresses and inflates to nothing. */
	ck_assert_int_eq(wire_deflate("", 0, 6, &z, &zn), 0);
	ck_assert_int_eq(wire_inflate(z, zn, 0, &raw, &rawn), 0);
	ck_assert_uint_eq(rawn, 0);
	free(raw);
	free(z);
}
END_TEST

/* 64 MiB of zeros deflate to ~64 KiB: the limit must stop it early. */
START_TEST(zlib_bomb)
{
	size_t big = 64u << 20;
	uint8_t *zeros = calloc(1, big), *z, *raw;
	size_t zn, rawn;

	ck_assert_int_eq(wire_deflate(zeros, big, 9, &z, &zn), 0);
	free(zeros);
	ck_assert_uint_lt(zn, 1u << 20);
	ck_assert_int_eq(wire_inflate(z, zn, BPFMIRROR_INFLATE_MAX, &raw, &rawn), -EFBIG);
	ck_assert_ptr_null(raw);
	ck_assert_uint_eq(rawn, 0);
	ck_assert_int_eq(wire_inflate(z, zn, big, &raw, &rawn), 0);
	ck_assert_uint_eq(rawn, big);
	free(raw);
	free(z);
}
END_TEST

/* A Frame{packet_batch} payload of N empty Packets (2 bytes each), encoded by hand. */
static uint8_t *empty_packets_frame(size_t n, size_t *len)
{
	size_t body = 2 * n, i = 0;
	uint8_t *p = malloc(body + 16);

	/* Field 17, wire type 2: (17 << 3 | 2) = 138 is a 2-byte varint. */
	p[i++] = 0x8a;
	p[i++] = 0x01;
	/* The body length as a fixed 4-byte varint: each byte carries 7 bits. */
	p[i++] = (uint8_t)(0x80 | (body & 0x7f));
	p[i++] = (uint8_t)(0x80 | ((body >> 7) & 0x7f));
	p[i++] = (uint8_t)(0x80 | ((body >> 14) & 0x7f));
	p[i++] = (uint8_t)((body >> 21) & 0x7f);
	for (size_t k = 0; k < n; k++) {
		p[i++] = 0x0a;
		p[i++] = 0x00;
	}
	*len = i;
	return p;
}

/* The finding of issue 11: 2 million empty packets in 4 MiB would decode to ~245 MB. */
START_TEST(decode_memory_cap)
{
	size_t len, n = ((4u << 20) - 8) / 2;
	uint8_t *p = empty_packets_frame(n, &len);
	Bpfmirror__Frame *f = NULL;

	ck_assert_uint_le(len, BPFMIRROR_FRAME_MAX_DEFAULT);
	ck_assert_int_eq(wire_decode_limited(p, len, len + BPFMIRROR_DECODE_SLACK, &f), -E2BIG);
	ck_assert_ptr_null(f);
	ck_assert_int_eq(wire_error_code_from_errno(-E2BIG),
			 BPFMIRROR__ERROR__CODE__CODE_FRAME_TOO_LARGE);
	free(p);
	/* A batch within the count limit decodes under the same cap. */
	p = empty_packets_frame(BPFMIRROR_BATCH_MAX_PACKETS, &len);
	ck_assert_int_eq(wire_decode_limited(p, len, len + BPFMIRROR_DECODE_SLACK, &f), 0);
	ck_assert_uint_eq(f->packet_batch->n_packets, BPFMIRROR_BATCH_MAX_PACKETS);
	wire_frame_free(f);
	/* Garbage is still -EPROTO, not a memory error. */
	ck_assert_int_eq(wire_decode_limited((const uint8_t *)"\xff\xff", 2, 1000, &f), -EPROTO);
	free(p);
}
END_TEST

static int limits_of(Bpfmirror__Frame *f, size_t len)
{
	const char *why = NULL;
	int err = wire_check_limits(f, len, &why);

	ck_assert(err == 0 ? why == NULL : why != NULL);
	return err;
}

START_TEST(limits_by_type)
{
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT;
	Bpfmirror__Heartbeat hb = BPFMIRROR__HEARTBEAT__INIT;
	Bpfmirror__Hello h = BPFMIRROR__HELLO__INIT;
	Bpfmirror__PacketBatch b = BPFMIRROR__PACKET_BATCH__INIT;
	Bpfmirror__AttachRequest a = BPFMIRROR__ATTACH_REQUEST__INIT;
	Bpfmirror__Target t = BPFMIRROR__TARGET__INIT;

	f.body_case = BPFMIRROR__FRAME__BODY_HEARTBEAT;
	f.heartbeat = &hb;
	ck_assert_int_eq(limits_of(&f, BPFMIRROR_SMALL_FRAME_MAX), 0);
	ck_assert_int_eq(limits_of(&f, BPFMIRROR_SMALL_FRAME_MAX + 1), -EMSGSIZE);
	f.body_case = BPFMIRROR__FRAME__BODY_HELLO;
	f.hello = &h;
	h.n_capabilities = BPFMIRROR_LIST_MAX + 1;
	ck_assert_int_eq(limits_of(&f, 100), -EMSGSIZE);
	h.n_capabilities = 3;
	ck_assert_int_eq(limits_of(&f, 100), 0);
	/* Packets may use the whole frame, up to the count limit. */
	f.body_case = BPFMIRROR__FRAME__BODY_PACKET_BATCH;
	f.packet_batch = &b;
	b.n_packets = BPFMIRROR_BATCH_MAX_PACKETS;
	ck_assert_int_eq(limits_of(&f, BPFMIRROR_FRAME_MAX_DEFAULT), 0);
	b.n_packets++;
	ck_assert_int_eq(limits_of(&f, 1000), -EMSGSIZE);
	f.body_case = BPFMIRROR__FRAME__BODY_ATTACH_REQUEST;
	f.attach_request = &a;
	ck_assert_int_eq(limits_of(&f, 100), 0);
	a.target = &t;
	t.n_pod_ips = BPFMIRROR_LIST_MAX + 1;
	ck_assert_int_eq(limits_of(&f, 100), -EMSGSIZE);
	t.n_pod_ips = 1;
	a.n_ports = BPFMIRROR_LIST_MAX + 1;
	ck_assert_int_eq(limits_of(&f, 100), -EMSGSIZE);
	a.n_ports = 1;
	ck_assert_int_eq(limits_of(&f, BPFMIRROR_SMALL_FRAME_MAX + 1), -EMSGSIZE);
}
END_TEST

/* Compresses the PacketBatch payload inside a frame built by empty_packets_frame(). */
static void compress_batch(size_t npkts, Bpfmirror__PacketBatch *out)
{
	size_t len;
	uint8_t *p = empty_packets_frame(npkts, &len);

	bpfmirror__packet_batch__init(out);
	out->compressed = true;
	/* The batch itself follows the 2-byte key and the 4-byte length. */
	out->raw_len = (uint32_t)(len - 6);
	ck_assert_int_eq(wire_deflate(p + 6, len - 6, 9, &out->zpackets.data, &out->zpackets.len),
			 0);
	free(p);
}

START_TEST(batch_bombs)
{
	Bpfmirror__PacketBatch z, *b = NULL;

	/* 4 MiB of empty packets inflate within the size limit, then hit the decode cap. */
	compress_batch(((4u << 20) - 8) / 2, &z);
	ck_assert_int_eq(wire_batch_decompress(&z, BPFMIRROR_INFLATE_MAX, &b), -E2BIG);
	ck_assert_ptr_null(b);
	wire_batch_release(&z);
	/* 16 MiB: refused by raw_len before inflating, whatever limit the caller passes. */
	compress_batch((16u << 20) / 2, &z);
	ck_assert_int_eq(wire_batch_decompress(&z, BPFMIRROR_INFLATE_MAX, &b), -EFBIG);
	wire_batch_release(&z);
	/* Decodable, but more packets than a batch may have. */
	compress_batch(BPFMIRROR_BATCH_MAX_PACKETS + 1, &z);
	ck_assert_int_eq(wire_batch_decompress(&z, BPFMIRROR_INFLATE_MAX, &b), -EMSGSIZE);
	wire_batch_release(&z);
	compress_batch(BPFMIRROR_BATCH_MAX_PACKETS, &z);
	ck_assert_int_eq(wire_batch_decompress(&z, BPFMIRROR_INFLATE_MAX, &b), 0);
	ck_assert_uint_eq(b->n_packets, BPFMIRROR_BATCH_MAX_PACKETS);
	wire_batch_free(b);
	wire_batch_release(&z);
}
END_TEST

static Suite *wire_suite(void)
{
	Suite *s = suite_create("wire");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, roundtrip_handshake);
	tcase_add_test(tc, roundtrip_attach);
	tcase_add_test(tc, roundtrip_subscribe_ack_detach_heartbeat);
	tcase_add_test(tc, roundtrip_packets);
	tcase_add_test(tc, roundtrip_streams);
	tcase_add_test(tc, roundtrip_files);
	tcase_add_test(tc, error_frames);
	tcase_add_test(tc, unknown_version);
	tcase_add_test(tc, decode_memory_cap);
	tcase_add_test(tc, limits_by_type);
	tcase_add_test(tc, batch_bombs);
	tcase_add_test(tc, malformed);
	tcase_add_test(tc, validation);
	tcase_add_test(tc, send_limits);
	tcase_add_test(tc, zlib_helpers);
	tcase_add_test(tc, zlib_bomb);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(wire_suite)
