/* libFuzzer target: arbitrary bytes through the frame reader and the envelope decoder. */
// FUZZ_SOURCES: userspace/lib/frame.c userspace/lib/wire.c userspace/lib/log.c
// FUZZ_SOURCES: build/gen/bpfmirror.pb-c.c
#include "frame.h"
#include "wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Small limits keep each run fast while still hitting the limit paths. */
#define FUZZ_FRAME_MAX	 (64u * 1024)
#define FUZZ_INFLATE_MAX (256u * 1024)

#define check(cond) check_at((cond), #cond, __LINE__)

static void check_at(int cond, const char *what, int line)
{
	if (cond)
		return;
	fprintf(stderr, "fuzz_frame.c:%d: check failed: %s\n", line, what);
	abort();
}

/* Everything a session does with a received payload. */
static void handle_payload(const uint8_t *p, size_t n)
{
	Bpfmirror__Frame *f, *again;
	Bpfmirror__PacketBatch *b;
	uint8_t *enc, *enc2, *raw;
	size_t nenc, nenc2, nraw;
	const char *why;
	int err;

	err = wire_decode(p, n, &f);
	if (err) {
		check(err == -EPROTO || err == -ENOMSG);
		check(f == NULL);
		check(frame_strerror(err) != NULL);
		return;
	}
	err = wire_validate(f, &why);
	check(err == 0 || (err == -EINVAL && why));
	err = wire_check_hello(f);
	check(err == 0 || err == -ENOMSG || err == -EPROTONOSUPPORT);
	(void)wire_body_name(f->body_case);
	if (f->body_case == BPFMIRROR__FRAME__BODY_ERROR)
		(void)wire_error_code_name(f->error->code);
	if (f->body_case == BPFMIRROR__FRAME__BODY_PACKET_BATCH && f->packet_batch->compressed &&
	    wire_batch_decompress(f->packet_batch, FUZZ_INFLATE_MAX, &b) == 0) {
		check(!b->compressed);
		wire_batch_free(b);
	}
	if (f->body_case == BPFMIRROR__FRAME__BODY_FILE_REPLY && f->file_reply->compressed &&
	    wire_inflate(f->file_reply->data.data, f->file_reply->data.len, FUZZ_INFLATE_MAX, &raw,
			 &nraw) == 0) {
		check(nraw <= FUZZ_INFLATE_MAX);
		free(raw);
	}
	/*
	 * What decodes must re-encode. Decoding that again may fail: protobuf-c
	 * keeps unknown fields (even a non-canonical field 0) and writes them
	 * back canonically, and C strings end at an embedded NUL. When it does
	 * decode, the next encoding must be byte-identical.
	 */
	check(wire_encode(f, &enc, &nenc) == 0);
	if (wire_decode(enc, nenc, &again) == 0) {
		check(wire_encode(again, &enc2, &nenc2) == 0);
		check(nenc == nenc2 && memcmp(enc, enc2, nenc) == 0);
		free(enc2);
		wire_frame_free(again);
	}
	free(enc);
	wire_frame_free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_reader *r;
	struct frame_writer *w;
	const uint8_t *p, *q, *out;
	size_t n, qn, used, off = 0, pos = 0, chunk, nout;
	int ret, pret;

	if (size < 1)
		return 0;
	/* The first byte picks the feed size: exercises every split of frames. */
	chunk = (size_t)data[0] % 17 + 1;
	data++;
	size--;
	r = frame_reader_new(FUZZ_FRAME_MAX);
	w = frame_writer_new(FUZZ_FRAME_MAX, 0);
	if (!r || !w)
		goto out;
	for (;;) {
		if (pos < size) {
			n = size - pos < chunk ? size - pos : chunk;
			check(frame_reader_feed(r, data + pos, n) == 0 || pos > 0);
			pos += n;
		} else {
			frame_reader_set_eof(r);
		}
		while ((ret = frame_reader_next(r, &p, &n)) == 1) {
			/* The buffer parser must agree with the reader. */
			pret = frame_parse(data + off, size - off, FUZZ_FRAME_MAX, &q, &qn, &used);
			check(pret == 1 && qn == n && memcmp(p, q, n) == 0);
			off += used;
			/* The writer reproduces the input bytes exactly. */
			check(frame_writer_push(w, p, n) == 0);
			frame_writer_peek(w, &out, &nout);
			check(nout == used && memcmp(out, q - FRAME_HDR_LEN, used) == 0);
			frame_writer_consume(w, nout);
			handle_payload(p, n);
		}
		if (ret < 0) {
			check(ret == -EMSGSIZE || ret == -EPIPE || ret == -ECONNRESET);
			check(frame_reader_next(r, &p, &n) == ret);
			if (ret == -EPIPE)
				check(off == size);
			break;
		}
	}
out:
	frame_writer_free(w);
	frame_reader_free(r);
	return 0;
}
