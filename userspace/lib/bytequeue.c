/* A FIFO of bytes for non-blocking sockets: append, peek, consume, write out. */
#include "bytequeue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

int bq_append(struct bytequeue *q, const void *data, size_t len)
{
	if (!len)
		return 0;
	if (q->head && q->head + q->len + len > q->cap) {
		memmove(q->buf, q->buf + q->head, q->len);
		q->head = 0;
	}
	if (q->len + len > q->cap) {
		size_t cap = q->cap ? q->cap : 4096;
		uint8_t *nb;
		while (cap < q->len + len)
			cap *= 2;
		nb = realloc(q->buf, cap);
		if (!nb)
			return -ENOMEM;
		q->buf = nb;
		q->cap = cap;
	}
	memcpy(q->buf + q->head + q->len, data, len);
	q->len += len;
	return 0;
}

void bq_consume(struct bytequeue *q, size_t n)
{
	if (n >= q->len) {
		q->head = q->len = 0;
		/* Large buffers of a burst are not kept for the connection's life. */
		if (q->cap > (1u << 20)) {
			free(q->buf);
			q->buf = NULL;
			q->cap = 0;
		}
		return;
	}
	q->head += n;
	q->len -= n;
}

ssize_t bq_write(struct bytequeue *q, int fd)
{
	while (q->len) {
		ssize_t n = send(fd, q->buf + q->head, q->len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -errno;
		}
		bq_consume(q, (size_t)n);
	}
	return (ssize_t)q->len;
}

void bq_free(struct bytequeue *q)
{
	free(q->buf);
	memset(q, 0, sizeof(*q));
}
