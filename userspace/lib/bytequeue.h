/* A FIFO of bytes for non-blocking sockets: append, peek, consume, write out. */
#ifndef BPFMIRROR_BYTEQUEUE_H
#define BPFMIRROR_BYTEQUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct bytequeue {
	uint8_t *buf;
	size_t head, len, cap;
};

/* Appends len bytes (grows the buffer); 0 or -ENOMEM. */
int bq_append(struct bytequeue *q, const void *data, size_t len);
/* The contiguous bytes at the front. */
static inline const uint8_t *bq_data(const struct bytequeue *q)
{
	return q->buf ? q->buf + q->head : NULL;
}
static inline size_t bq_len(const struct bytequeue *q)
{
	return q->len;
}
void bq_consume(struct bytequeue *q, size_t n);
/* Writes what the socket takes now; returns bytes left, or -errno (not -EAGAIN). */
ssize_t bq_write(struct bytequeue *q, int fd);
void bq_free(struct bytequeue *q);

#endif
