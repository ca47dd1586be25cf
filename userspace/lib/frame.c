/* Length-prefixed framing: a reader that reassembles frames and a writer queue. */
#include "frame.h"
#include "protocol.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Bytes asked of each read(); also the slack kept above the largest frame. */
#define READ_CHUNK (64u * 1024)
/* Writer buffers above this size are released when the queue drains. */
#define WRITER_KEEP (256u * 1024)

struct frame_reader {
	uint8_t *buf;
	size_t cap;
	size_t start; /* first byte not yet returned as a frame */
	size_t end;   /* one past the last buffered byte */
	uint32_t max;
	bool eof;
	int err; /* sticky error, 0 while healthy */
	struct frame_budget *budget;
	size_t base;	/* capacity held outside the budget */
	size_t charged; /* capacity charged to the budget */
};

struct frame_writer {
	uint8_t *buf;
	size_t cap;
	size_t start;
	size_t end;
	uint32_t max;
	size_t limit;
	bool not_socket; /* send() said ENOTSOCK: use write() */
	uint64_t written;
	struct frame_budget *budget;
	size_t base;
	size_t charged;
};

/*
 * Moves a buffer's charge to what capacity CAP costs above BASE. Growing past
 * the budget's limit fails with -ENOBUFS and changes nothing; shrinking always
 * succeeds.
 */
static int budget_charge(struct frame_budget *b, size_t base, size_t *charged, size_t cap)
{
	size_t want = cap > base ? cap - base : 0;

	if (!b)
		return 0;
	if (want > *charged && want - *charged > b->limit - b->used)
		return -ENOBUFS;
	b->used = b->used - *charged + want;
	*charged = want;
	return 0;
}

static uint32_t frame_max(uint32_t max)
{
	if (max == 0)
		return BPFMIRROR_FRAME_MAX_DEFAULT;
	return max > BPFMIRROR_FRAME_MAX_LIMIT ? BPFMIRROR_FRAME_MAX_LIMIT : max;
}

int frame_put_header(uint8_t hdr[FRAME_HDR_LEN], size_t len, uint32_t max)
{
	if (len > max)
		return -EMSGSIZE;
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
	return 0;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int frame_parse(const uint8_t *buf, size_t len, uint32_t max, const uint8_t **payload,
		size_t *payload_len, size_t *consumed)
{
	uint32_t plen;

	if (len < FRAME_HDR_LEN)
		return 0;
	plen = get_be32(buf);
	if (plen > max)
		return -EMSGSIZE;
	if (len - FRAME_HDR_LEN < plen)
		return 0;
	*payload = buf + FRAME_HDR_LEN;
	*payload_len = plen;
	*consumed = FRAME_HDR_LEN + (size_t)plen;
	return 1;
}

const char *frame_strerror(int err)
{
	switch (-err) {
	case 0:
		return "success";
	case EMSGSIZE:
		return "frame larger than the maximum frame size";
	case E2BIG:
		return "frame decodes to more memory than the receiver allows";
	case EPROTO:
		return "malformed frame (payload is not a valid protobuf Frame)";
	case ECONNRESET:
		return "connection closed in the middle of a frame";
	case EPIPE:
		return "connection closed by the peer";
	case ENOBUFS:
		return "send queue full (peer is not reading)";
	case ENOMSG:
		return "frame carries no known message";
	case EPROTONOSUPPORT:
		return "unsupported protocol version";
	case EFBIG:
		return "compressed data inflates beyond the size limit";
	case EBADMSG:
		return "corrupt or truncated compressed data";
	case EINVAL:
		return "invalid field value in message";
	case ENOMEM:
		return "out of memory";
	case EAGAIN:
		return "operation would block";
	default:
		return strerrordesc_np(-err) ? strerrordesc_np(-err) : "unknown error";
	}
}

/* ---- reader ------------------------------------------------------------ */

struct frame_reader *frame_reader_new(uint32_t max)
{
	struct frame_reader *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->max = frame_max(max);
	return r;
}

void frame_reader_free(struct frame_reader *r)
{
	if (!r)
		return;
	budget_charge(r->budget, r->base, &r->charged, 0);
	free(r->buf);
	free(r);
}

void frame_reader_set_max(struct frame_reader *r, uint32_t max)
{
	r->max = frame_max(max);
}

uint32_t frame_reader_max(const struct frame_reader *r)
{
	return r->max;
}

void frame_reader_set_budget(struct frame_reader *r, struct frame_budget *b, size_t base)
{
	budget_charge(r->budget, r->base, &r->charged, 0);
	r->budget = b;
	r->base = base;
	/* Memory already held is charged even past the limit: it exists. */
	r->charged = b && r->cap > base ? r->cap - base : 0;
	if (b)
		b->used += r->charged;
}

/* Drops an empty buffer that a large frame grew, so its memory goes back. */
static void reader_release(struct frame_reader *r)
{
	if (r->start != r->end || r->cap <= 2 * READ_CHUNK)
		return;
	free(r->buf);
	r->buf = NULL;
	r->cap = r->start = r->end = 0;
	budget_charge(r->budget, r->base, &r->charged, 0);
}

static void reader_compact(struct frame_reader *r)
{
	if (r->start == 0)
		return;
	memmove(r->buf, r->buf + r->start, r->end - r->start);
	r->end -= r->start;
	r->start = 0;
}

/*
 * Makes room for at least WANT more bytes after the buffered ones. Capacity
 * stops at one maximal frame plus a chunk, the most a socket read ever needs;
 * only bytes fed by hand may go beyond.
 */
static int reader_reserve(struct frame_reader *r, size_t want)
{
	size_t need, cap, top = FRAME_HDR_LEN + (size_t)r->max + READ_CHUNK;
	uint8_t *p;
	int err;

	reader_release(r);
	reader_compact(r);
	if (want > SIZE_MAX - r->end)
		return -ENOMEM;
	need = r->end + want;
	if (need <= r->cap)
		return 0;
	/* Doubling for many small feeds; a known large frame gets what it needs. */
	cap = r->cap ? r->cap * 2 : READ_CHUNK;
	if (cap < need)
		cap = need > SIZE_MAX - READ_CHUNK
			  ? need
			  : (need + READ_CHUNK - 1) / READ_CHUNK * READ_CHUNK;
	if (cap > top)
		cap = need > top ? need : top;
	err = budget_charge(r->budget, r->base, &r->charged, cap);
	if (err)
		return err;
	p = realloc(r->buf, cap);
	if (!p) {
		budget_charge(r->budget, r->base, &r->charged, r->cap);
		return -ENOMEM;
	}
	r->buf = p;
	r->cap = cap;
	return 0;
}

int frame_reader_feed(struct frame_reader *r, const void *data, size_t len)
{
	int err;

	if (r->err)
		return r->err;
	if (len == 0)
		return 0;
	err = reader_reserve(r, len);
	if (err)
		return err;
	memcpy(r->buf + r->end, data, len);
	r->end += len;
	return 0;
}

/*
 * How much to ask of the next read(): a chunk, or the rest of the frame being
 * assembled when that is larger, so a big frame needs few reads. The buffer
 * never grows past one maximal frame plus a chunk.
 */
static size_t reader_want(const struct frame_reader *r)
{
	size_t have = r->end - r->start;
	size_t want = READ_CHUNK;
	uint32_t plen;

	if (have >= FRAME_HDR_LEN) {
		plen = get_be32(r->buf + r->start);
		if (plen <= r->max && FRAME_HDR_LEN + (size_t)plen > have &&
		    FRAME_HDR_LEN + (size_t)plen - have > want)
			want = FRAME_HDR_LEN + (size_t)plen - have;
	}
	return want;
}

int frame_reader_read(struct frame_reader *r, int fd)
{
	size_t limit = FRAME_HDR_LEN + (size_t)r->max + READ_CHUNK;
	size_t want, room;
	ssize_t n;
	int err;

	if (r->err)
		return r->err;
	if (r->eof)
		return 0;
	want = reader_want(r);
	if (r->end - r->start + want > limit)
		want = limit - (r->end - r->start);
	if (want == 0)
		return -ENOBUFS; /* caller did not drain frame_reader_next() */
	err = reader_reserve(r, want);
	if (err)
		return err;
	room = r->cap - r->end;
	if (room > limit - r->end)
		room = limit - r->end;
	do
		n = read(fd, r->buf + r->end, room);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if (n == 0) {
		r->eof = true;
		return 0;
	}
	r->end += (size_t)n;
	return (int)n;
}

int frame_reader_next(struct frame_reader *r, const uint8_t **payload, size_t *len)
{
	size_t consumed;
	int ret;

	if (r->err)
		return r->err;
	/* Nothing fed yet: buf is still NULL, and NULL + 0 is undefined. */
	ret = r->buf ? frame_parse(r->buf + r->start, r->end - r->start, r->max, payload, len,
				   &consumed)
		     : 0;
	if (ret > 0) {
		r->start += consumed;
		return 1;
	}
	if (ret < 0)
		r->err = ret;
	else if (r->eof)
		r->err = r->end == r->start ? -EPIPE : -ECONNRESET;
	return r->err;
}

void frame_reader_set_eof(struct frame_reader *r)
{
	r->eof = true;
}

size_t frame_reader_buffered(const struct frame_reader *r)
{
	return r->end - r->start;
}

/* ---- writer ------------------------------------------------------------ */

struct frame_writer *frame_writer_new(uint32_t max, size_t queue_limit)
{
	struct frame_writer *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->max = frame_max(max);
	w->limit = queue_limit ? queue_limit : 16 * ((size_t)w->max + FRAME_HDR_LEN);
	/* One maximal frame must always fit in an empty queue. */
	if (w->limit < (size_t)w->max + FRAME_HDR_LEN)
		w->limit = (size_t)w->max + FRAME_HDR_LEN;
	return w;
}

void frame_writer_free(struct frame_writer *w)
{
	if (!w)
		return;
	budget_charge(w->budget, w->base, &w->charged, 0);
	free(w->buf);
	free(w);
}

void frame_writer_set_budget(struct frame_writer *w, struct frame_budget *b, size_t base)
{
	budget_charge(w->budget, w->base, &w->charged, 0);
	w->budget = b;
	w->base = base;
	w->charged = b && w->cap > base ? w->cap - base : 0;
	if (b)
		b->used += w->charged;
}

/* Grows W's buffer so NEED more bytes fit after the queued ones (which fit the limit). */
static int writer_grow(struct frame_writer *w, size_t need)
{
	size_t queued = w->end - w->start;
	size_t cap;
	uint8_t *p;
	int err;

	if (w->cap - w->end < need && w->start > 0) {
		memmove(w->buf, w->buf + w->start, queued);
		w->start = 0;
		w->end = queued;
	}
	if (w->cap - w->end >= need)
		return 0;
	cap = w->cap ? w->cap : 4096;
	while (cap - w->end < need)
		cap *= 2;
	/* Never more than the queue may hold: the limit bounds memory, not only bytes. */
	if (cap > w->limit)
		cap = w->limit;
	err = budget_charge(w->budget, w->base, &w->charged, cap);
	if (err)
		return err;
	p = realloc(w->buf, cap);
	if (!p) {
		budget_charge(w->budget, w->base, &w->charged, w->cap);
		return -ENOMEM;
	}
	w->buf = p;
	w->cap = cap;
	return 0;
}

uint8_t *frame_writer_reserve(struct frame_writer *w, size_t len)
{
	size_t need = FRAME_HDR_LEN + len;
	uint8_t *p;
	int err;

	if (len > w->max) {
		errno = EMSGSIZE;
		return NULL;
	}
	if (w->end - w->start + need > w->limit) {
		errno = ENOBUFS;
		return NULL;
	}
	err = writer_grow(w, need);
	if (err) {
		errno = -err;
		return NULL;
	}
	p = w->buf + w->end;
	frame_put_header(p, len, w->max);
	w->end += need;
	return p + FRAME_HDR_LEN;
}

int frame_writer_push(struct frame_writer *w, const void *payload, size_t len)
{
	uint8_t *p = frame_writer_reserve(w, len);

	if (!p)
		return -errno;
	if (len)
		memcpy(p, payload, len);
	return 0;
}

void frame_writer_consume(struct frame_writer *w, size_t len)
{
	if (len > w->end - w->start)
		len = w->end - w->start;
	w->start += len;
	if (w->start < w->end)
		return;
	w->start = w->end = 0;
	if (w->cap > WRITER_KEEP || (w->budget && w->cap > w->base)) {
		free(w->buf);
		w->buf = NULL;
		w->cap = 0;
		budget_charge(w->budget, w->base, &w->charged, 0);
	}
}

int frame_writer_flush(struct frame_writer *w, int fd)
{
	ssize_t n;

	while (w->start < w->end) {
		if (w->not_socket) {
			n = write(fd, w->buf + w->start, w->end - w->start);
		} else {
			n = send(fd, w->buf + w->start, w->end - w->start, MSG_NOSIGNAL);
			if (n < 0 && errno == ENOTSOCK) {
				w->not_socket = true;
				continue;
			}
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 1;
			return -errno;
		}
		w->written += (size_t)n;
		frame_writer_consume(w, (size_t)n);
	}
	return 0;
}

bool frame_writer_pending(const struct frame_writer *w)
{
	return w->end > w->start;
}

size_t frame_writer_queued(const struct frame_writer *w)
{
	return w->end - w->start;
}

uint64_t frame_writer_written(const struct frame_writer *w)
{
	return w->written;
}

void frame_writer_peek(const struct frame_writer *w, const uint8_t **data, size_t *len)
{
	*data = w->buf ? w->buf + w->start : NULL;
	*len = w->end - w->start;
}
