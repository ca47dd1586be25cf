/* Session packets: validating and injecting the client's, batching the data plane's. */
#include "session_priv.h"
#include "pkt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/ip.h>
#include <stdlib.h>
#include <string.h>

/* ---- packets from the client ------------------------------------------- */

/*
 * A fragment (refused by pkt_parse_ipv4) carries no ports to check: only ICMP,
 * from the pod's address, may come fragmented (large pings of the twin). The
 * header's version, IHL and total length were checked by pkt_parse_ipv4.
 */
static bool fragment_allowed(const struct session *s, const uint8_t *p, size_t len)
{
	struct iphdr h;

	memcpy(&h, p, sizeof(h));
	return ntohs(h.tot_len) == len && len >= (size_t)h.ihl * 4 + 4 &&
	       h.saddr == s->pod_ip.u.v4.s_addr && h.protocol == IPPROTO_ICMP;
}

/* Claimed, not only active: replies of stolen flows may trail an Unsubscribe. */
static bool port_stolen(const struct session *s, uint16_t port)
{
	for (size_t i = 0; i < s->nsubs; i++)
		if (s->subs[i].mode == DATAPATH_STEAL && s->subs[i].port == port)
			return true;
	return false;
}

/*
 * A client may only emit packets as its pod: source address = the pod IP and,
 * for TCP/UDP, source port = one of its stolen ports (replies of stolen flows)
 * or a port of its reserved range (the twin's outgoing traffic).
 */
bool session_packet_allowed(const struct session *s, const uint8_t *p, size_t len)
{
	struct pkt_ipv4 ip;
	uint16_t sport;
	int err;

	if (s->pod_ip.family != AF_INET)
		return false;
	err = pkt_parse_ipv4(p, len, &ip);
	if (err == -EPROTONOSUPPORT)
		return fragment_allowed(s, p, len);
	/* The whole packet, no trailing bytes, and at least the transport's ports. */
	if (err || ip.l3_len != len || ip.l4_len < 4 || ip.saddr != s->pod_ip.u.v4.s_addr)
		return false;
	if (ip.proto != IPPROTO_TCP && ip.proto != IPPROTO_UDP)
		return ip.proto == IPPROTO_ICMP;
	/* TCP and UDP headers both start with the source port. */
	sport = (uint16_t)(ip.l4[0] << 8 | ip.l4[1]);
	if (sport >= s->range.lo && sport <= s->range.hi)
		return true;
	return ip.proto == IPPROTO_TCP && port_stolen(s, sport);
}

int session_on_packets(struct session *s, const Bpfmirror__Frame *f)
{
	Bpfmirror__PacketBatch *b = f->packet_batch, *plain = NULL;
	int err;

	if (s->state != S_ATTACHED)
		return session_send_error(s, 0, BPFMIRROR__ERROR__CODE__CODE_UNEXPECTED_MESSAGE,
					  false, "packets before attach");
	if (b->compressed) {
		err = wire_batch_decompress(b, BPFMIRROR_INFLATE_MAX, &plain);
		if (err) {
			s->ag->ctr.frame_errors++;
			return session_send_error(s, 0,
						  BPFMIRROR__ERROR__CODE__CODE_MALFORMED_FRAME,
						  false, "packet batch does not inflate");
		}
		b = plain;
	}
	for (size_t i = 0; i < b->n_packets; i++) {
		const ProtobufCBinaryData *d = &b->packets[i]->data;
		s->ag->ctr.packets_from_client++;
		if (!session_packet_allowed(s, d->data, d->len)) {
			s->ag->ctr.packets_rejected++;
			continue;
		}
		if (!s->ag->dp)
			continue;
		err = datapath_inject(s->ag->dp, d->data, d->len);
		if (err)
			s->ag->ctr.inject_errors++;
		else
			s->ag->ctr.packets_injected++;
	}
	if (plain)
		wire_batch_free(plain);
	return 0;
}

void session_batch_clear(struct session *s)
{
	for (size_t i = 0; i < s->npkts; i++)
		free(s->pkt_data[i]);
	s->npkts = 0;
	s->batch_bytes = 0;
}

/* ---- packets to the client ---------------------------------------------- */

static int batch_flush(struct session *s)
{
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT;
	Bpfmirror__PacketBatch b = BPFMIRROR__PACKET_BATCH__INIT;
	size_t n = s->npkts;
	int err;

	if (!n)
		return 0;
	b.packets = s->pkt_ptrs;
	b.n_packets = n;
	f.body_case = BPFMIRROR__FRAME__BODY_PACKET_BATCH;
	f.packet_batch = &b;
	err = wire_send(s->wr, &f);
	if (err == -ENOBUFS) {
		/* The client reads slower than its pod receives: drop, count. */
		s->ag->ctr.packets_backlog_drop += n;
		err = 0;
	} else if (!err) {
		s->ag->ctr.frames_out++;
		s->ag->ctr.packets_to_client += n;
		s->ag->ctr.bytes_to_client += s->batch_bytes;
	}
	session_batch_clear(s);
	if (!err) {
		err = frame_writer_flush(s->wr, s->fd);
		if (err > 0)
			err = 0;
		session_update_interest(s);
	}
	return err;
}

static void batch_add(struct session *s, const struct datapath_pkt *pkt)
{
	Bpfmirror__Packet *p;
	uint8_t *copy;

	if (s->npkts == BATCH_MAX_PACKETS || s->batch_bytes + pkt->len > BATCH_MAX_BYTES) {
		if (batch_flush(s) < 0) {
			s->ag->ctr.packets_backlog_drop++;
			return;
		}
	}
	copy = malloc(pkt->len ? pkt->len : 1);
	if (!copy) {
		s->ag->ctr.packets_backlog_drop++;
		return;
	}
	memcpy(copy, pkt->data, pkt->len);
	p = &s->pkts[s->npkts];
	bpfmirror__packet__init(p);
	p->data.data = copy;
	p->data.len = pkt->len;
	p->direction = pkt->hdr->dir == BM_DIR_TO_POD
			   ? BPFMIRROR__PACKET__DIRECTION__DIRECTION_INGRESS
			   : BPFMIRROR__PACKET__DIRECTION__DIRECTION_EGRESS;
	p->flags = pkt->hdr->flags;
	p->reason = pkt->hdr->reason;
	p->timestamp_ns = pkt->hdr->tstamp_ns;
	s->pkt_ptrs[s->npkts] = p;
	s->pkt_data[s->npkts] = copy;
	s->npkts++;
	s->batch_bytes += pkt->len;
}

int session_deliver_packet(struct agent *ag, const void *opaque)
{
	const struct datapath_pkt *pkt = opaque;

	for (unsigned i = 0; i < BM_MAX_SESSIONS; i++) {
		struct session *s;
		if (!pkt->hdr->sessions[i])
			continue;
		s = session_find(ag, pkt->hdr->sessions[i]);
		if (s && s->state == S_ATTACHED)
			batch_add(s, pkt);
	}
	return 0;
}

void session_flush_all(struct agent *ag)
{
	struct session *s = ag->sessions, *next;

	for (; s; s = next) {
		next = s->next;
		if (batch_flush(s) < 0)
			session_close(s, "connection lost while sending packets");
	}
}
