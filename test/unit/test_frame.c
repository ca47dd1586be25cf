/* Unit tests for the length-prefixed framing (reader, writer, buffer parser). */
#include "frame.h"
#include "protocol.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void nonblocking_pair(int sv[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(fcntl(sv[i], F_SETFL, fcntl(sv[i], F_GETFL) | O_NONBLOCK), 0);
}

/* Builds header + payload of LEN bytes filled with a pattern derived from SEED. */
static size_t make_frame(uint8_t *out, size_t len, uint8_t seed)
{
	ck_assert_int_eq(frame_put_header(out, len, BPFMIRROR_FRAME_MAX_DEFAULT), 0);
	for (size_t i = 0; i < len; i++)
		out[FRAME_HDR_LEN + i] = (uint8_t)(seed + i * 7);
	return FRAME_HDR_LEN + len;
}

static void check_payload(const uint8_t *p, size_t len, size_t want_len, uint8_t seed)
{
	ck_assert_uint_eq(len, want_len);
	for (size_t i = 0; i < len; i++)
		ck_assert_uint_eq(p[i], (uint8_t)(seed + i * 7));
}

START_TEST(header_big_endian)
{
	uint8_t h[FRAME_HDR_LEN];

	ck_assert_int_eq(frame_put_header(h, 0x01020304, UINT32_MAX), 0);
	ck_assert_uint_eq(h[0], 1);
	ck_assert_uint_eq(h[1], 2);
	ck_assert_uint_eq(h[2], 3);
	ck_assert_uint_eq(h[3], 4);
	ck_assert_int_eq(frame_put_header(h, 101, 100), -EMSGSIZE);
}
END_TEST

START_TEST(parse_buffer)
{
	uint8_t buf[64];
	const uint8_t *p;
	size_t n, used, len = make_frame(buf, 10, 3);

	for (size_t cut = 0; cut < len; cut++)
		ck_assert_int_eq(frame_parse(buf, cut, 100, &p, &n, &used), 0);
	ck_assert_int_eq(frame_parse(buf, len, 100, &p, &n, &used), 1);
	ck_assert_uint_eq(used, len);
	check_payload(p, n, 10, 3);
	/* Oversized is detected from the header alone. */
	ck_assert_int_eq(frame_parse(buf, FRAME_HDR_LEN, 9, &p, &n, &used), -EMSGSIZE);
	/* A zero-length frame is legal at this layer. */
	memset(buf, 0, 4);
	ck_assert_int_eq(frame_parse(buf, 4, 100, &p, &n, &used), 1);
	ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(reader_feed_byte_by_byte)
{
	struct frame_reader *r = frame_reader_new(0);
	uint8_t buf[3 * 300];
	size_t len = 0, got = 0, plen;
	const uint8_t *p;
	int ret;

	ck_assert_ptr_nonnull(r);
	len += make_frame(buf + len, 200, 1);
	len += make_frame(buf + len, 0, 2);
	len += make_frame(buf + len, 50, 3);
	for (size_t i = 0; i < len; i++) {
		ck_assert_int_eq(frame_reader_feed(r, buf + i, 1), 0);
		while ((ret = frame_reader_next(r, &p, &plen)) == 1) {
			static const size_t sizes[] = {200, 0, 50};

			check_payload(p, plen, sizes[got], (uint8_t)(got + 1));
			got++;
		}
		ck_assert_int_eq(ret, 0);
	}
	ck_assert_uint_eq(got, 3);
	ck_assert_uint_eq(frame_reader_buffered(r), 0);
	frame_reader_set_eof(r);
	ck_assert_int_eq(frame_reader_next(r, &p, &plen), -EPIPE);
	frame_reader_free(r);
}
END_TEST

START_TEST(reader_many_frames_one_feed)
{
	struct frame_reader *r = frame_reader_new(0);
	static uint8_t buf[100 * 40];
	size_t len = 0, plen;
	const uint8_t *p;

	for (int i = 0; i < 100; i++)
		len += make_frame(buf + len, (size_t)i % 30, (uint8_t)i);
	ck_assert_int_eq(frame_reader_feed(r, buf, len), 0);
	for (int i = 0; i < 100; i++) {
		ck_assert_int_eq(frame_reader_next(r, &p, &plen), 1);
		check_payload(p, plen, (size_t)i % 30, (uint8_t)i);
	}
	ck_assert_int_eq(frame_reader_next(r, &p, &plen), 0);
	frame_reader_free(r);
}
END_TEST

START_TEST(reader_oversized_is_sticky)
{
	struct frame_reader *r = frame_reader_new(16);
	uint8_t buf[64];
	size_t len = make_frame(buf, 17, 0), plen;
	const uint8_t *p;

	ck_assert_int_eq(frame_reader_feed(r, buf, 3), 0);
	ck_assert_int_eq(frame_reader_next(r, &p, &plen), 0);
	ck_assert_int_eq(frame_reader_feed(r, buf + 3, len - 3), 0);
	ck_assert_int_eq(frame_reader_next(r, &p, &plen), -EMSGSIZE);
	ck_assert_int_eq(frame_reader_next(r, &p, &plen), -EMSGSIZE);
	ck_assert_int_eq(frame_reader_feed(r, buf, 4), -EMSGSIZE);
	frame_reader_free(r);
}
END_TEST

START_TEST(reader_truncated_at_eof)
{
	struct frame_reader *r = frame_reader_new(0);
	uint8_t buf[64];
	size_t len = make_frame(buf, 20, 0), plen;
	const uint8_t *p;

	ck_assert_int_eq(frame_reader_feed(r, buf, len - 1), 0);
	ck_assert_int_eq(frame_reader_next(r, &p, &plen), 0);
	frame_reader_set_eof(r);
	ck_assert_int_eq(frame_reader_next(r, &p, &plen), -ECONNRESET);
	ck_assert_int_eq(frame_reader_next(r, &p, &plen), -ECONNRESET);
	frame_reader_free(r);
}
END_TEST

/* The writer end sends one byte per write(); the reader sees every split. */
START_TEST(socket_one_byte_at_a_time)
{
	struct frame_reader *r = frame_reader_new(0);
	uint8_t buf[2 * 600];
	size_t len = 0, got = 0, plen;
	const uint8_t *p;
	int sv[2], ret;

	nonblocking_pair(sv);
	len += make_frame(buf + len, 513, 9);
	len += make_frame(buf + len, 77, 10);
	ck_assert_int_eq(frame_reader_read(r, sv[1]), -EAGAIN);
	for (size_t i = 0; i < len; i++) {
		ck_assert_int_eq(write(sv[0], buf + i, 1), 1);
		ck_assert_int_eq(frame_reader_read(r, sv[1]), 1);
		ck_assert_int_eq(frame_reader_read(r, sv[1]), -EAGAIN);
		while ((ret = frame_reader_next(r, &p, &plen)) == 1) {
			check_payload(p, plen, got == 0 ? 513 : 77, (uint8_t)(9 + got));
			got++;
		}
		ck_assert_int_eq(ret, 0);
	}
	ck_assert_uint_eq(got, 2);
	/* Half a header, then the peer goes away: truncated. */
	ck_assert_int_eq(write(sv[0], buf, 2), 2);
	close(sv[0]);
	ck_assert_int_eq(frame_reader_read(r, sv[1]), 2);
	ck_assert_int_eq(frame_reader_read(r, sv[1]), 0);
	ck_assert_int_eq(frame_reader_next(r, &p, &plen), -ECONNRESET);
	close(sv[1]);
	frame_reader_free(r);
}
END_TEST

START_TEST(socket_clean_eof)
{
	struct frame_reader *r = frame_reader_new(0);
	uint8_t buf[64];
	size_t len = make_frame(buf, 5, 1), plen;
	const uint8_t *p;
	int sv[2];

	nonblocking_pair(sv);
	ck_assert_int_eq(write(sv[0], buf, len), (ssize_t)len);
	close(sv[0]);
	ck_assert_int_eq(frame_reader_read(r, sv[1]), (int)len);
	ck_assert_int_eq(frame_reader_read(r, sv[1]), 0);
	/* Buffered frames are still delivered after EOF. */
	ck_assert_int_eq(frame_reader_next(r, &p, &plen), 1);
	check_payload(p, plen, 5, 1);
	ck_assert_int_eq(frame_reader_next(r, &p, &plen), -EPIPE);
	close(sv[1]);
	frame_reader_free(r);
}
END_TEST

/* A frame far larger than the socket buffer needs many partial writes. */
START_TEST(writer_partial_writes)
{
	struct frame_writer *w = frame_writer_new(0, 0);
	struct frame_reader *r = frame_reader_new(0);
	size_t big = 1u << 20, plen, frames = 0;
	uint8_t *payload = malloc(big);
	int sndbuf = 4096, sv[2], ret, rounds = 0;
	const uint8_t *p;

	nonblocking_pair(sv);
	ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
	for (size_t i = 0; i < big; i++)
		payload[i] = (uint8_t)(i * 13);
	ck_assert_int_eq(frame_writer_push(w, payload, big), 0);
	ck_assert_int_eq(frame_writer_push(w, "xyz", 3), 0);
	ck_assert(frame_writer_pending(w));
	ck_assert_uint_eq(frame_writer_queued(w), 2 * FRAME_HDR_LEN + big + 3);
	ck_assert_int_eq(frame_writer_flush(w, sv[0]), 1);
	ck_assert(frame_writer_pending(w));
	for (;;) {
		ck_assert_int_lt(++rounds, 100000);
		while ((ret = frame_reader_read(r, sv[1])) > 0)
			;
		ck_assert_int_eq(ret, -EAGAIN);
		while (frame_reader_next(r, &p, &plen) == 1) {
			if (frames++ == 0) {
				ck_assert_uint_eq(plen, big);
				ck_assert_mem_eq(p, payload, big);
			} else {
				ck_assert_uint_eq(plen, 3);
				ck_assert_mem_eq(p, "xyz", 3);
			}
		}
		if (frames == 2)
			break;
		ret = frame_writer_flush(w, sv[0]);
		ck_assert_int_ge(ret, 0);
	}
	ck_assert_int_gt(rounds, 2);
	ck_assert(!frame_writer_pending(w));
	ck_assert_int_eq(frame_writer_flush(w, sv[0]), 0);
	close(sv[0]);
	close(sv[1]);
	free(payload);
	frame_reader_free(r);
	frame_writer_free(w);
}
END_TEST

START_TEST(writer_limits)
{
	struct frame_writer *w = frame_writer_new(100, 250);
	const uint8_t *d;
	uint8_t big[101] = {0};
	size_t n;

	ck_assert_int_eq(frame_writer_push(w, big, 101), -EMSGSIZE);
	ck_assert_int_eq(frame_writer_push(w, big, 100), 0);
	ck_assert_int_eq(frame_writer_push(w, big, 100), 0);
	ck_assert_int_eq(frame_writer_push(w, big, 100), -ENOBUFS);
	ck_assert_ptr_null(frame_writer_reserve(w, 100));
	ck_assert_int_eq(errno, ENOBUFS);
	frame_writer_peek(w, &d, &n);
	ck_assert_uint_eq(n, 208);
	ck_assert_uint_eq(d[3], 100);
	frame_writer_consume(w, 104);
	ck_assert_int_eq(frame_writer_push(w, big, 100), 0);
	frame_writer_consume(w, 1000);
	ck_assert(!frame_writer_pending(w));
	frame_writer_free(w);
}
END_TEST

START_TEST(writer_peer_gone)
{
	struct frame_writer *w = frame_writer_new(0, 0);
	int sv[2];

	nonblocking_pair(sv);
	close(sv[1]);
	ck_assert_int_eq(frame_writer_push(w, "abc", 3), 0);
	/* MSG_NOSIGNAL: an error code, not a SIGPIPE that kills the process. */
	ck_assert_int_eq(frame_writer_flush(w, sv[0]), -EPIPE);
	close(sv[0]);
	frame_writer_free(w);
}
END_TEST

START_TEST(writer_to_pipe)
{
	struct frame_writer *w = frame_writer_new(0, 0);
	uint8_t got[16];
	int fds[2];

	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_eq(frame_writer_push(w, "hi", 2), 0);
	ck_assert_int_eq(frame_writer_flush(w, fds[1]), 0);
	ck_assert_int_eq(read(fds[0], got, sizeof(got)), 6);
	ck_assert_mem_eq(got, "\0\0\0\2hi", 6);
	close(fds[0]);
	close(fds[1]);
	frame_writer_free(w);
}
END_TEST

START_TEST(reader_refuses_undrained_growth)
{
	struct frame_reader *r = frame_reader_new(16);
	static uint8_t junk[70000]; /* 17500 empty frames the caller never takes */
	int sv[2], ret;

	nonblocking_pair(sv);
	ck_assert_int_eq(write(sv[0], junk, sizeof(junk)), (ssize_t)sizeof(junk));
	for (int i = 0; i < 1000; i++) {
		ret = frame_reader_read(r, sv[1]);
		if (ret <= 0)
			break;
	}
	ck_assert_int_eq(ret, -ENOBUFS);
	ck_assert_uint_le(frame_reader_buffered(r), FRAME_HDR_LEN + 16 + 64 * 1024);
	close(sv[0]);
	close(sv[1]);
	frame_reader_free(r);
}
END_TEST

START_TEST(reader_max_changes)
{
	struct frame_reader *r = frame_reader_new(BPFMIRROR_SMALL_FRAME_MAX);
	static uint8_t buf[FRAME_HDR_LEN + 70000];
	const uint8_t *p;
	size_t n;

	ck_assert_uint_eq(frame_reader_max(r), BPFMIRROR_SMALL_FRAME_MAX);
	/* A 70000-byte frame is too large before the handshake... */
	make_frame(buf, 70000, 3);
	ck_assert_int_eq(frame_reader_feed(r, buf, 4), 0);
	ck_assert_int_eq(frame_reader_next(r, &p, &n), -EMSGSIZE);
	frame_reader_free(r);
	/* ...and fine after it. */
	r = frame_reader_new(BPFMIRROR_SMALL_FRAME_MAX);
	frame_reader_set_max(r, 0);
	ck_assert_uint_eq(frame_reader_max(r), BPFMIRROR_FRAME_MAX_DEFAULT);
	ck_assert_int_eq(frame_reader_feed(r, buf, sizeof(buf)), 0);
	ck_assert_int_eq(frame_reader_next(r, &p, &n), 1);
	check_payload(p, n, 70000, 3);
	frame_reader_free(r);
}
END_TEST

/* Readers sharing a budget: the capacity above each one's base is charged, and given back. */
START_TEST(reader_budget)
{
	struct frame_budget b = {.limit = 300u << 10};
	struct frame_reader *r1 = frame_reader_new(0), *r2 = frame_reader_new(0);
	static uint8_t big[FRAME_HDR_LEN + (256u << 10)];
	const uint8_t *p;
	size_t n;

	frame_reader_set_budget(r1, &b, 128u << 10);
	frame_reader_set_budget(r2, &b, 128u << 10);
	/* Small frames stay within the base: nothing charged. */
	make_frame(big, 1000, 1);
	ck_assert_int_eq(frame_reader_feed(r1, big, FRAME_HDR_LEN + 1000), 0);
	ck_assert_int_eq(frame_reader_next(r1, &p, &n), 1);
	ck_assert_uint_eq(b.used, 0);
	/* A 256 KiB frame on r1 takes more than its base from the budget... */
	make_frame(big, 256u << 10, 2);
	ck_assert_int_eq(frame_reader_feed(r1, big, sizeof(big)), 0);
	ck_assert_int_eq(frame_reader_next(r1, &p, &n), 1);
	check_payload(p, n, 256u << 10, 2);
	ck_assert_uint_gt(b.used, 128u << 10);
	/* ...so the same on r2 does not fit any more: -ENOBUFS, not memory. */
	ck_assert_int_eq(frame_reader_feed(r2, big, sizeof(big)), -ENOBUFS);
	ck_assert_uint_le(b.used, b.limit);
	/* r1's next feed finds its buffer empty and gives the big one back. */
	ck_assert_int_eq(frame_reader_feed(r1, big, 10), 0);
	ck_assert_uint_eq(b.used, 0);
	ck_assert_int_eq(frame_reader_feed(r2, big, sizeof(big)), 0);
	ck_assert_int_eq(frame_reader_next(r2, &p, &n), 1);
	frame_reader_free(r2);
	frame_reader_free(r1);
	ck_assert_uint_eq(b.used, 0);
}
END_TEST

START_TEST(writer_budget)
{
	struct frame_budget b = {.limit = 60u << 10};
	struct frame_writer *w1 = frame_writer_new(0, 1u << 20), *w2 = frame_writer_new(0, 0);
	static uint8_t chunk[40u << 10];
	const uint8_t *d;
	size_t n;
	int i;

	frame_writer_set_budget(w1, &b, 16u << 10);
	frame_writer_set_budget(w2, &b, 16u << 10);
	/* w1 fills the budget: its own queue limit (1 MiB) is not what stops it. */
	for (i = 0; i < 10 && frame_writer_push(w1, chunk, sizeof(chunk)) == 0; i++)
		;
	ck_assert_int_lt(i, 10);
	ck_assert_uint_le(b.used, b.limit);
	/* w2 still queues small frames (its base), but no large one. */
	ck_assert_int_eq(frame_writer_push(w2, chunk, 1000), 0);
	ck_assert_int_eq(frame_writer_push(w2, chunk, sizeof(chunk)), -ENOBUFS);
	/* Drained, w1 gives its buffer back; then w2 gets room. */
	frame_writer_peek(w1, &d, &n);
	frame_writer_consume(w1, n);
	ck_assert_uint_eq(b.used, 0);
	ck_assert_int_eq(frame_writer_push(w2, chunk, sizeof(chunk)), 0);
	frame_writer_free(w2);
	frame_writer_free(w1);
	ck_assert_uint_eq(b.used, 0);
}
END_TEST

START_TEST(writer_counts_written)
{
	struct frame_writer *w = frame_writer_new(0, 0);
	uint8_t got[64];
	int sv[2];

	nonblocking_pair(sv);
	ck_assert_uint_eq(frame_writer_written(w), 0);
	ck_assert_int_eq(frame_writer_push(w, "hello", 5), 0);
	ck_assert_int_eq(frame_writer_flush(w, sv[0]), 0);
	ck_assert_uint_eq(frame_writer_written(w), 9);
	ck_assert_int_eq(read(sv[1], got, sizeof(got)), 9);
	close(sv[0]);
	close(sv[1]);
	frame_writer_free(w);
}
END_TEST

START_TEST(strerror_texts)
{
	static const int codes[] = {EMSGSIZE,	     EPROTO, ECONNRESET, EPIPE,	 ENOBUFS, ENOMSG,
				    EPROTONOSUPPORT, EFBIG,  EBADMSG,	 ENOENT, E2BIG};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		const char *s = frame_strerror(-codes[i]);

		ck_assert_ptr_nonnull(s);
		ck_assert_int_gt(strlen(s), 5);
	}
	ck_assert_str_eq(frame_strerror(-EMSGSIZE), "frame larger than the maximum frame size");
	ck_assert_ptr_nonnull(frame_strerror(-99999));
	ck_assert_ptr_nonnull(strstr(frame_strerror(-E2BIG), "decodes to more memory"));
}
END_TEST

static Suite *frame_suite(void)
{
	Suite *s = suite_create("frame");
	TCase *tc = tcase_create("core");

	signal(SIGPIPE, SIG_DFL);
	tcase_add_test(tc, header_big_endian);
	tcase_add_test(tc, parse_buffer);
	tcase_add_test(tc, reader_feed_byte_by_byte);
	tcase_add_test(tc, reader_many_frames_one_feed);
	tcase_add_test(tc, reader_oversized_is_sticky);
	tcase_add_test(tc, reader_truncated_at_eof);
	tcase_add_test(tc, socket_one_byte_at_a_time);
	tcase_add_test(tc, socket_clean_eof);
	tcase_add_test(tc, writer_partial_writes);
	tcase_add_test(tc, writer_limits);
	tcase_add_test(tc, writer_peer_gone);
	tcase_add_test(tc, writer_to_pipe);
	tcase_add_test(tc, reader_refuses_undrained_growth);
	tcase_add_test(tc, reader_max_changes);
	tcase_add_test(tc, reader_budget);
	tcase_add_test(tc, writer_budget);
	tcase_add_test(tc, writer_counts_written);
	tcase_add_test(tc, strerror_texts);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(frame_suite)
