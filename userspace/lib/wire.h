/* Control-channel messages: the one boundary around the generated protobuf-c code. */
#ifndef BPFMIRROR_WIRE_H
#define BPFMIRROR_WIRE_H

#include "bpfmirror.pb-c.h"
#include "frame.h"
#include "protocol.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Other modules include this header rather than bpfmirror.pb-c.h: they build
 * messages with the generated BPFMIRROR__*__INIT initialisers and types, and
 * encode, decode and free only through the functions below.
 */

/*
 * Decodes one frame payload. On success *out is set, to be freed with
 * wire_frame_free(). Errors: -EPROTO (not a valid protobuf Frame), -ENOMSG (no
 * body, or a body this version does not know). On error *out is NULL.
 */
int wire_decode(const uint8_t *buf, size_t len, Bpfmirror__Frame **out);
void wire_frame_free(Bpfmirror__Frame *f);

/*
 * wire_decode() whose decoding may allocate at most MEM_MAX bytes (0: no
 * limit): -E2BIG when the frame would take more (e.g. millions of empty
 * repeated entries); nothing is left allocated then.
 */
int wire_decode_limited(const uint8_t *buf, size_t len, size_t mem_max, Bpfmirror__Frame **out);

/*
 * Limits by message type (docs/protocol.md, "Limits"): a frame of LEN bytes
 * whose body is a control message must fit BPFMIRROR_SMALL_FRAME_MAX; a batch
 * has at most BPFMIRROR_BATCH_MAX_PACKETS packets; capabilities, ports and pod
 * IPs at most BPFMIRROR_LIST_MAX. Returns 0 or -EMSGSIZE with *why set.
 */
int wire_check_limits(const Bpfmirror__Frame *f, size_t len, const char **why);

/*
 * Semantic checks a decoder cannot make: enum values in range, ports <= 65535,
 * IP addresses of 4 or 16 bytes, addresses present where a connection is
 * named. Returns 0 or -EINVAL with a short reason in *why (static text).
 */
int wire_validate(const Bpfmirror__Frame *f, const char **why);

/* Encodes F into a new buffer (free() it). 0, -ENOMSG (no body), -ENOMEM. */
int wire_encode(const Bpfmirror__Frame *f, uint8_t **out, size_t *len);

/* Encodes F straight into W's queue as one frame: 0, -ENOMSG, -EMSGSIZE, -ENOBUFS, -ENOMEM. */
int wire_send(struct frame_writer *w, const Bpfmirror__Frame *f);

/* "hello", "attach_request", ... for logs; "none"/"unknown" otherwise. */
const char *wire_body_name(Bpfmirror__Frame__BodyCase body);
/* "UNSUPPORTED_VERSION", ... for logs. */
const char *wire_error_code_name(Bpfmirror__Error__Code code);

/* ---- handshake --------------------------------------------------------- */

/*
 * Checks that F is a Hello (or, for _reply, a HelloReply) speaking our
 * protocol version. Returns 0, -ENOMSG when F has another body, or
 * -EPROTONOSUPPORT when the peer's version differs (the agent then answers
 * with a fatal Error{UNSUPPORTED_VERSION} and closes the session).
 */
int wire_check_hello(const Bpfmirror__Frame *f);
int wire_check_hello_reply(const Bpfmirror__Frame *f);

/* True when CAP is among the N strings of CAPS. */
bool wire_has_capability(char *const *caps, size_t n, const char *cap);

/* ---- errors ------------------------------------------------------------ */

/* The Error code that reports a local -errno from this module or frame.c. */
Bpfmirror__Error__Code wire_error_code_from_errno(int err);

/*
 * Fills F and E (caller storage, e.g. on the stack) as an Error frame
 * answering REQUEST_ID; MSG is referenced, not copied.
 */
void wire_error_init(Bpfmirror__Frame *f, Bpfmirror__Error *e, uint64_t request_id,
		     Bpfmirror__Error__Code code, bool fatal, const char *msg);

/* Queues an Error frame with a printf-formatted message. 0 or -errno. */
int wire_send_error(struct frame_writer *w, uint64_t request_id, Bpfmirror__Error__Code code,
		    bool fatal, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ---- zlib -------------------------------------------------------------- */

/* Compresses LEN bytes (zlib format, LEVEL 0..9 or -1) into a new buffer. */
int wire_deflate(const void *in, size_t len, int level, uint8_t **out, size_t *out_len);

/*
 * Inflates a zlib stream into a new buffer of at most LIMIT bytes. Returns 0,
 * -EFBIG when the output would exceed LIMIT (decompression bombs), -EBADMSG
 * for corrupt, truncated or trailing data, -ENOMEM.
 */
int wire_inflate(const void *in, size_t len, size_t limit, uint8_t **out, size_t *out_len);

/*
 * Turns an uncompressed batch into a compressed one: OUT (initialised by the
 * caller) gets compressed, zpackets and raw_len; release it with
 * wire_batch_release(). 0, -EMSGSIZE, -ENOMEM.
 */
int wire_batch_compress(const Bpfmirror__PacketBatch *plain, Bpfmirror__PacketBatch *out);
void wire_batch_release(Bpfmirror__PacketBatch *compressed);

/*
 * Inflates a compressed batch into a new PacketBatch (free it with
 * wire_batch_free()) whose inflated size must be raw_len and at most LIMIT
 * (never more than BPFMIRROR_BATCH_RAW_MAX). Decoding the inflated bytes may
 * allocate raw_len + BPFMIRROR_DECODE_SLACK (-E2BIG past it); more than
 * BPFMIRROR_BATCH_MAX_PACKETS packets give -EMSGSIZE. An uncompressed IN gives
 * -EINVAL. Other errors as wire_inflate() and wire_decode().
 */
int wire_batch_decompress(const Bpfmirror__PacketBatch *in, size_t limit,
			  Bpfmirror__PacketBatch **out);
void wire_batch_free(Bpfmirror__PacketBatch *b);

#endif
