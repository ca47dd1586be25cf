/* Byte store keyed by TCP sequence number: holds a stream's unacknowledged and out-of-order data.
 */
#include "replay_buf.h"
#include "pkt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Farther than this beyond base is not a plausible stream position. */
#define MAX_AHEAD (1u << 30)

struct replay_seg {
	struct replay_seg *next;
	uint32_t seq; /* sequence number of data[0] */
	uint32_t len; /* valid bytes from data */
	size_t alloc; /* bytes allocated for this segment, header included */
	uint8_t *data;
	uint8_t raw[];
};

size_t replay_buf_seg_overhead(void)
{
	return sizeof(struct replay_seg);
}

static uint32_t seg_end(const struct replay_seg *s)
{
	return s->seq + s->len;
}

void replay_buf_init(struct replay_buf *b, uint32_t base)
{
	memset(b, 0, sizeof(*b));
	b->base = base;
	b->contig_end = base;
}

void replay_buf_clear(struct replay_buf *b)
{
	struct replay_seg *s = b->head, *n;

	while (s) {
		n = s->next;
		free(s);
		s = n;
	}
	replay_buf_init(b, b->base);
}

/* Links a new segment holding [seq, seq+len) after PREV (NULL: at the head). */
static int add_seg(struct replay_buf *b, struct replay_seg *prev, uint32_t seq, const uint8_t *data,
		   uint32_t len)
{
	struct replay_seg *s = malloc(sizeof(*s) + len);

	if (!s)
		return -ENOMEM;
	s->seq = seq;
	s->len = len;
	s->alloc = sizeof(*s) + len;
	s->data = s->raw;
	memcpy(s->raw, data, len);
	s->next = prev ? prev->next : b->head;
	if (prev)
		prev->next = s;
	else
		b->head = s;
	if (!s->next)
		b->tail = s;
	b->mem += s->alloc;
	b->bytes += len;
	return 0;
}

/*
 * Walks the holes of [seq, end) not covered by stored segments. With DRY set it only counts
 * what would be added (*need_mem); otherwise it inserts. Returns new bytes or -errno.
 */
static long fill_holes(struct replay_buf *b, uint32_t seq, uint32_t end, const uint8_t *data,
		       int dry, size_t *need_mem)
{
	struct replay_seg *prev = NULL, *s = b->head;
	uint32_t cur = seq;
	long added = 0;
	int err;

	/* In-order appends are the common case: start at the tail when possible. */
	if (b->tail && pkt_seq_le(seg_end(b->tail), seq)) {
		prev = b->tail;
		s = NULL;
	}
	while (pkt_seq_lt(cur, end)) {
		uint32_t hole_end;

		while (s && pkt_seq_le(seg_end(s), cur)) {
			prev = s;
			s = s->next;
		}
		if (s && pkt_seq_le(s->seq, cur)) {
			cur = seg_end(s);
			continue;
		}
		hole_end = (s && pkt_seq_lt(s->seq, end)) ? s->seq : end;
		if (dry) {
			*need_mem += sizeof(struct replay_seg) + (hole_end - cur);
		} else {
			err = add_seg(b, prev, cur, data + (cur - seq), hole_end - cur);
			if (err)
				return err;
			prev = prev ? prev->next : b->head;
		}
		added += (long)(hole_end - cur);
		cur = hole_end;
	}
	return added;
}

static void advance_contig(struct replay_buf *b)
{
	struct replay_seg *s = b->contig ? b->contig->next : b->head;

	/* After a release the run's last segment may be gone: skip what lies inside the run. */
	while (s && pkt_seq_le(seg_end(s), b->contig_end)) {
		b->contig = s;
		s = s->next;
	}
	while (s && s->seq == b->contig_end) {
		b->contig_end = seg_end(s);
		b->contig = s;
		s = s->next;
	}
}

long replay_buf_insert(struct replay_buf *b, uint32_t seq, const void *data, size_t len,
		       size_t allowance)
{
	const uint8_t *d = data;
	uint32_t end;
	size_t need = 0;
	long added;

	if (len == 0)
		return 0;
	if (len >= MAX_AHEAD)
		return -ERANGE;
	end = seq + (uint32_t)len;
	if (pkt_seq_le(end, b->base))
		return 0;
	if (pkt_seq_lt(seq, b->base)) {
		d += b->base - seq;
		seq = b->base;
	}
	if (end - b->base > MAX_AHEAD)
		return -ERANGE;
	added = fill_holes(b, seq, end, d, 1, &need);
	if (added <= 0)
		return added;
	if (need > allowance)
		return -ENOBUFS;
	added = fill_holes(b, seq, end, d, 0, &need);
	advance_contig(b);
	return added;
}

size_t replay_buf_copy(struct replay_buf *b, uint32_t seq, void *dst, size_t max)
{
	struct replay_seg *s = b->cursor;
	uint8_t *out = dst;
	size_t n = 0;

	if (pkt_seq_lt(seq, b->base) || !pkt_seq_lt(seq, b->contig_end))
		return 0;
	if (max > b->contig_end - seq)
		max = b->contig_end - seq;
	if (!s || pkt_seq_lt(seq, s->seq))
		s = b->head;
	while (s && pkt_seq_le(seg_end(s), seq))
		s = s->next;
	b->cursor = s;
	while (s && n < max) {
		uint32_t off, take;

		if (pkt_seq_lt(seq + (uint32_t)n, s->seq))
			break;
		off = seq + (uint32_t)n - s->seq;
		take = s->len - off;

		if (take > max - n)
			take = (uint32_t)(max - n);
		memcpy(out + n, s->data + off, take);
		n += take;
		if (off + take == s->len)
			s = s->next;
	}
	return n;
}

void replay_buf_release(struct replay_buf *b, uint32_t upto)
{
	struct replay_seg *s;

	if (pkt_seq_lt(b->contig_end, upto))
		upto = b->contig_end;
	if (!pkt_seq_lt(b->base, upto))
		return;
	b->base = upto;
	while ((s = b->head) && pkt_seq_le(seg_end(s), upto)) {
		b->head = s->next;
		if (b->contig == s)
			b->contig = NULL;
		if (b->cursor == s)
			b->cursor = NULL;
		if (b->tail == s)
			b->tail = NULL;
		b->mem -= s->alloc;
		b->bytes -= s->len;
		free(s);
	}
	if (s && pkt_seq_lt(s->seq, upto)) {
		uint32_t cut = upto - s->seq;

		/* The allocation stays until the whole segment goes; only the view shrinks. */
		s->data += cut;
		s->seq = upto;
		s->len -= cut;
		b->bytes -= cut;
	}
}

int replay_buf_has_gap(const struct replay_buf *b)
{
	return b->tail && seg_end(b->tail) != b->contig_end;
}
