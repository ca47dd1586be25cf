/* Byte store keyed by TCP sequence number: holds a stream's unacknowledged and out-of-order data.
 */
#ifndef BPFMIRROR_REPLAY_BUF_H
#define BPFMIRROR_REPLAY_BUF_H

#include <stddef.h>
#include <stdint.h>

struct replay_seg;

/*
 * Segments are kept sorted and never overlap; the first copy of a byte wins. Everything before
 * base has been released. contig_end is the end of the run of bytes without holes from base.
 */
struct replay_buf {
	struct replay_seg *head;
	struct replay_seg *tail;
	struct replay_seg *contig; /* last segment of the hole-free run from base, or NULL */
	struct replay_seg *cursor; /* hint for replay_buf_copy() */
	uint32_t base;
	uint32_t contig_end;
	size_t mem;   /* bytes allocated, headers included: what budgets count */
	size_t bytes; /* payload bytes held */
};

/* Memory one stored segment costs beyond its payload. */
size_t replay_buf_seg_overhead(void);

void replay_buf_init(struct replay_buf *b, uint32_t base);
/* Frees every segment; the buffer is then empty at the same base. */
void replay_buf_clear(struct replay_buf *b);

/*
 * Stores the part of [seq, seq+len) not already held and not before base. All or nothing: if
 * the new memory would exceed ALLOWANCE bytes, nothing is stored and -ENOBUFS is returned;
 * -ENOMEM on allocation failure. Otherwise returns the count of new payload bytes (0 for a
 * pure duplicate). Data more than 1 GiB beyond base is refused with -ERANGE.
 */
long replay_buf_insert(struct replay_buf *b, uint32_t seq, const void *data, size_t len,
		       size_t allowance);
/* Copies up to MAX hole-free bytes starting at SEQ (base <= SEQ <= contig_end); returns count. */
size_t replay_buf_copy(struct replay_buf *b, uint32_t seq, void *dst, size_t max);
/* Drops the bytes before UPTO (clamped to contig_end) and moves base there. */
void replay_buf_release(struct replay_buf *b, uint32_t upto);
/* True when some bytes are held beyond a hole. */
int replay_buf_has_gap(const struct replay_buf *b);

#endif
