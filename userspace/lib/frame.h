/* Length-prefixed framing of the control channel over non-blocking stream sockets. */
#ifndef BPFMIRROR_FRAME_H
#define BPFMIRROR_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A frame is a 4-byte big-endian payload length followed by the payload (one
 * encoded bpfmirror.Frame). The length counts the payload only; 0 is legal at
 * this layer (the envelope decoder rejects an empty body).
 *
 * Errors (negative errno) used by this module and by wire.c:
 *   -EMSGSIZE    a length prefix above the maximum frame size
 *   -EPROTO      malformed payload (protobuf that does not decode)
 *   -ECONNRESET  the peer closed the stream in the middle of a frame
 *   -EPIPE       the peer closed the stream at a frame boundary (clean end)
 *   -ENOBUFS     the writer's queue is above its limit (peer too slow), or
 *                a shared budget (struct frame_budget) is used up
 *   -E2BIG       a payload whose decoding would pass the memory cap
 * frame_strerror() turns any of them into a short human text.
 */
#define FRAME_HDR_LEN 4u

/* Writes the length prefix of a payload of LEN bytes; -EMSGSIZE above MAX. */
int frame_put_header(uint8_t hdr[FRAME_HDR_LEN], size_t len, uint32_t max);

/*
 * Looks for one complete frame at the start of BUF. Returns 1 and sets
 * *payload, *payload_len and *consumed (header + payload) when one is there,
 * 0 when more bytes are needed, -EMSGSIZE when the prefix exceeds MAX.
 */
int frame_parse(const uint8_t *buf, size_t len, uint32_t max, const uint8_t **payload,
		size_t *payload_len, size_t *consumed);

/* Human text for an error returned by the frame or wire modules (err < 0). */
const char *frame_strerror(int err);

/* ---- shared memory budget ------------------------------------------------ */

/*
 * Bytes that several readers and writers may hold together (e.g. every
 * session of the agent). Each reader or writer holds BASE bytes of its own
 * buffer for free, so small frames always get through; the capacity above
 * that is charged to the budget while allocated. A reader that cannot grow
 * reports -ENOBUFS, a writer refuses the frame with -ENOBUFS.
 */
struct frame_budget {
	size_t used;
	size_t limit;
};

/* ---- reader ------------------------------------------------------------ */

struct frame_reader;

/* New reader accepting payloads up to MAX bytes (0: the protocol default). */
struct frame_reader *frame_reader_new(uint32_t max);
void frame_reader_free(struct frame_reader *r);

/*
 * Appends bytes that arrived some other way (tests, fuzzing, TLS layers).
 * Returns 0, -ENOMEM, or the reader's sticky error.
 */
int frame_reader_feed(struct frame_reader *r, const void *data, size_t len);

/*
 * One read() from the non-blocking FD into the reader. Returns the number of
 * bytes read (> 0), 0 at end of stream (then frame_reader_next() reports
 * -EPIPE or -ECONNRESET once the buffered frames are consumed), -EAGAIN when
 * nothing is available, or another -errno from read(). EINTR is retried.
 */
int frame_reader_read(struct frame_reader *r, int fd);

/*
 * Takes the next complete frame. Returns 1 with *payload and *len pointing into
 * the reader (valid until the next call on R), 0 when more bytes are needed,
 * or a negative error (sticky: every later call returns it again): -EMSGSIZE,
 * -EPIPE (clean end of stream), -ECONNRESET (end of stream inside a frame).
 */
int frame_reader_next(struct frame_reader *r, const uint8_t **payload, size_t *len);

/*
 * Changes the largest accepted payload (e.g. small before the handshake,
 * larger after it). Frames already buffered are judged by the new limit.
 */
void frame_reader_set_max(struct frame_reader *r, uint32_t max);
uint32_t frame_reader_max(const struct frame_reader *r);

/*
 * Charges R's buffer capacity above BASE bytes to B (NULL: no budget). Call
 * before the first read; B must outlive R.
 */
void frame_reader_set_budget(struct frame_reader *r, struct frame_budget *b, size_t base);

/* Marks end of stream without a read() (for buffers fed by hand). */
void frame_reader_set_eof(struct frame_reader *r);

/* Bytes buffered but not yet returned as frames. */
size_t frame_reader_buffered(const struct frame_reader *r);

/* ---- writer ------------------------------------------------------------ */

struct frame_writer;

/*
 * New writer for payloads up to MAX bytes (0: protocol default) that refuses
 * to queue more than QUEUE_LIMIT bytes (0: 16 frames of MAX).
 */
struct frame_writer *frame_writer_new(uint32_t max, size_t queue_limit);
void frame_writer_free(struct frame_writer *w);

/* Charges W's buffer capacity above BASE bytes to B, as for readers. */
void frame_writer_set_budget(struct frame_writer *w, struct frame_budget *b, size_t base);

/* Queues one frame (the payload is copied). 0, -EMSGSIZE, -ENOBUFS, -ENOMEM. */
int frame_writer_push(struct frame_writer *w, const void *payload, size_t len);

/*
 * Reserves room for one frame of exactly LEN payload bytes and returns a
 * pointer where the caller writes them (e.g. protobuf_c_message_pack()); the
 * frame is queued at once. NULL with errno EMSGSIZE/ENOBUFS/ENOMEM.
 */
uint8_t *frame_writer_reserve(struct frame_writer *w, size_t len);

/*
 * Writes as much of the queue to the non-blocking FD as the socket takes.
 * Returns 0 when the queue is empty, 1 when bytes remain (wait for EPOLLOUT),
 * or -errno from write (-EPIPE when the peer is gone; SIGPIPE is not raised).
 */
int frame_writer_flush(struct frame_writer *w, int fd);

/* True while queued bytes wait to be written (arm EPOLLOUT then). */
bool frame_writer_pending(const struct frame_writer *w);
size_t frame_writer_queued(const struct frame_writer *w);
/* Bytes written to the socket since W was made (progress of a slow peer). */
uint64_t frame_writer_written(const struct frame_writer *w);

/* Takes the queued bytes without a socket (tests): *data valid until next call. */
void frame_writer_peek(const struct frame_writer *w, const uint8_t **data, size_t *len);
void frame_writer_consume(struct frame_writer *w, size_t len);

#endif
