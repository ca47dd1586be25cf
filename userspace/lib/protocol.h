/* Control-channel protocol constants shared by the CLI and the agent. */
#ifndef BPFMIRROR_PROTOCOL_H
#define BPFMIRROR_PROTOCOL_H

/*
 * Version of schemas/bpfmirror.proto as spoken on the wire. Bump it only for
 * changes an older peer would misread; additions use new field numbers and,
 * when they change behaviour, a capability string below.
 */
#define BPFMIRROR_PROTOCOL_VERSION 1u

/* Default and hard limits on one frame's payload (the encoded Frame). */
#define BPFMIRROR_FRAME_MAX_DEFAULT (4u << 20)
#define BPFMIRROR_FRAME_MAX_LIMIT   (64u << 20)

/* Largest inflated size accepted for any zlib payload (file data, batches). */
#define BPFMIRROR_INFLATE_MAX (16u << 20)

/*
 * Limits a receiver applies before and while it decodes (docs/protocol.md,
 * "Limits"). Control messages (Hello, Attach, Subscribe, Heartbeat, ...) and
 * every frame before the handshake are small; only packets, streams and file
 * data use the full frame size.
 */
#define BPFMIRROR_SMALL_FRAME_MAX (64u << 10)
/* Decoding one frame may allocate at most its length plus this much. */
#define BPFMIRROR_DECODE_SLACK (1u << 20)
/* Packets in one PacketBatch (plain or inflated). */
#define BPFMIRROR_BATCH_MAX_PACKETS 1024u
/* Inflated size of a compressed PacketBatch: no more than a plain one may carry. */
#define BPFMIRROR_BATCH_RAW_MAX BPFMIRROR_FRAME_MAX_DEFAULT
/* Entries of the other repeated fields a client sends (capabilities, ports, pod IPs). */
#define BPFMIRROR_LIST_MAX 64u

/* Capability strings exchanged in Hello/HelloReply. */
#define BPFMIRROR_CAP_PACKET_ZLIB    "packet-zlib"    /* compressed PacketBatch */
#define BPFMIRROR_CAP_MIRROR	     "mirror"	      /* MODE_MIRROR on ports */
#define BPFMIRROR_CAP_STEAL	     "steal"	      /* MODE_STEAL, whole connections */
#define BPFMIRROR_CAP_FILTERED_STEAL "filtered-steal" /* HttpFilter + Stream* messages */
#define BPFMIRROR_CAP_FILES	     "files"	      /* FileRequest/FileReply */
#define BPFMIRROR_CAP_OUTGOING	     "outgoing"	      /* twin's outgoing packets */

#endif
