/* TCP replayer: makes the twin's kernel accept mirrored client->pod streams written to its tun. */
#include "replay.h"
#include "log.h"
#include "pkt.h"
#include "replay_buf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/*
 * We play the client towards the local kernel. Sequence numbers of the client->pod direction are
 * the client's own (its ISN, its byte positions); the local kernel's sequence space is learnt from
 * its SYN-ACK. Segmentation is ours: the copies may be coalesced (GRO) or tiny, so bytes are
 * stored by sequence number and re-cut to the local MSS and window. See docs/design-replay.md.
 */

#define OUR_WSCALE	7     /* lets the local stack send without waiting on us */
#define OUR_WINDOW	65535 /* raw window field: 65535 << 7 = 8 MiB */
#define DEFAULT_MSS	536   /* RFC 9293 when the SYN-ACK carries none */
#define DUPACK_THRESH	3
#define SYN_RETRIES	5 /* ... at least, and for at least give_up_ms: see conn_timer() */
#define RST_ANSWERS	3 /* exact RSTs sent in answer to challenge ACKs */
#define MAX_LOCAL_AHEAD (1u << 30)

/*
 * Budgets (docs/design-replay.md, "Recovery and budgets"). A local app that accepts slowly
 * leaves our SYN, our handshake ACK and our first data unanswered while its accept queue is
 * full; a real client keeps retransmitting for a minute or two, and so do we. While the local
 * stack has not yet taken the connection the backoff stops at ACCEPT_RTO_MAX_MS, so a queue
 * slot that frees up is found within a second.
 */
#define DEFAULT_MEM_TOTAL   (64u << 20) /* payload buffered across all connections */
#define DEFAULT_MEM_CONN    (4u << 20)	/* payload buffered per connection */
#define DEFAULT_MAX_RETRANS 8
#define DEFAULT_GIVE_UP_MS  60000 /* silence of the local stack before we give up */
#define ACCEPT_RTO_MAX_MS   1000  /* backoff ceiling until the local stack took the connection */

enum conn_state {
	CS_SYN_SENT,	/* our SYN is in the tun, waiting for the SYN-ACK */
	CS_ESTABLISHED, /* handshake done, possibly half-closed */
	CS_CLOSED,	/* FINs both ways done; kept to re-ack retransmitted FINs */
	CS_RESET,	/* reset; kept to answer challenge ACKs and count late copies */
	CS_IGNORED,	/* started before we saw its SYN */
};

enum drop_reason {
	DROP_OTHER,
	DROP_BUDGET,
};

struct conn {
	struct conn *hnext;	  /* hash chain */
	struct conn *prev, *next; /* list of all entries, for timers */
	struct replay_tuple t;
	enum conn_state st;
	enum drop_reason drop; /* where late bytes are counted once reset */
	uint32_t c_isn;
	uint32_t snd_una; /* oldest client byte the local stack has not acked */
	uint32_t snd_nxt; /* next client sequence number to send */
	uint32_t snd_max; /* highest sequence number sent so far */
	uint32_t snd_wnd; /* local receive window, scaled, from snd_una */
	uint32_t fin_seq; /* sequence number of the client's FIN */
	bool fin_rcvd;	  /* the client's FIN was copied to us */
	bool fin_acked;	  /* the local stack acked our FIN */
	bool l_fin;	  /* the local stack sent its FIN */
	uint8_t l_wscale;
	uint16_t seg_max;   /* largest payload per segment we send */
	uint32_t l_rcv_nxt; /* next local sequence number: our ACK field */
	struct replay_buf buf;
	uint64_t last_active;
	uint64_t deadline; /* retransmission / probe / SYN timer, 0 = off */
	uint32_t rto;
	uint32_t retries;
	uint64_t gap_since;  /* when the oldest still-open hole appeared, 0 = none */
	uint32_t gap_contig; /* contig_end when gap_since was set */
	uint32_t dupacks;
	uint32_t rst_left;
	bool heard;	     /* the local stack sent something since the timer last fired */
	bool taken;	     /* the local stack sent a non-SYN segment: it holds a socket for us */
	uint64_t last_heard; /* last packet from the local stack (or our first SYN) */
};

struct replay {
	struct replay_opts o;
	struct replay_stats st;
	struct conn **hash;
	size_t nbuckets;
	struct conn *all; /* doubly linked, newest first */
	size_t nconns;
	uint16_t ip_id;
	uint8_t *out; /* packet being built */
	size_t out_cap;
};

static const char *const event_names[] = {
    [REPLAY_EV_OVER_BUDGET] = "over-budget",
    [REPLAY_EV_GAP_TIMEOUT] = "gap-timeout",
    [REPLAY_EV_LOCAL_TIMEOUT] = "local-timeout",
    [REPLAY_EV_MIDSTREAM] = "midstream",
    [REPLAY_EV_REFUSED] = "refused",
    [REPLAY_EV_TABLE_FULL] = "table-full",
    [REPLAY_EV_IDLE] = "idle",
    [REPLAY_EV_SYN_TIMEOUT] = "syn-timeout",
};

const char *replay_event_name(enum replay_event ev)
{
	if ((unsigned)ev >= sizeof(event_names) / sizeof(event_names[0]))
		return "unknown";
	return event_names[ev];
}

static void report(struct replay *r, enum replay_event ev, const struct replay_tuple *t,
		   uint64_t bytes)
{
	char c[INET_ADDRSTRLEN], p[INET_ADDRSTRLEN];
	bool loud = ev == REPLAY_EV_OVER_BUDGET || ev == REPLAY_EV_GAP_TIMEOUT ||
		    ev == REPLAY_EV_LOCAL_TIMEOUT || ev == REPLAY_EV_TABLE_FULL ||
		    ev == REPLAY_EV_SYN_TIMEOUT;
	/* Refused and mid-stream connections were never ours to deliver. */
	bool gave_up = ev != REPLAY_EV_MIDSTREAM && ev != REPLAY_EV_REFUSED;

	inet_ntop(AF_INET, &t->caddr, c, sizeof(c));
	inet_ntop(AF_INET, &t->paddr, p, sizeof(p));
	log_msg(loud	  ? LOG_LVL_WARN
		: gave_up ? LOG_LVL_INFO
			  : LOG_LVL_DEBUG,
		"replay: %s%s %s:%u -> %s:%u (%llu bytes lost)", gave_up ? "gave up: " : "",
		replay_event_name(ev), c, t->cport, p, t->pport, (unsigned long long)bytes);
	if (r->o.report)
		r->o.report(r->o.ctx, ev, t, bytes);
}

/* ---- table ------------------------------------------------------------------------------ */

static size_t tuple_hash(const struct replay *r, const struct replay_tuple *t)
{
	uint64_t h = ((uint64_t)t->caddr << 32 | t->paddr) * 0x9e3779b97f4a7c15ull;

	h ^= ((uint64_t)t->cport << 16 | t->pport) * 0xc2b2ae3d27d4eb4full;
	h ^= h >> 29;
	return (size_t)h & (r->nbuckets - 1);
}

static bool tuple_eq(const struct replay_tuple *a, const struct replay_tuple *b)
{
	return a->caddr == b->caddr && a->paddr == b->paddr && a->cport == b->cport &&
	       a->pport == b->pport;
}

static struct conn *lookup(struct replay *r, const struct replay_tuple *t)
{
	struct conn *c;

	for (c = r->hash[tuple_hash(r, t)]; c; c = c->hnext)
		if (tuple_eq(&c->t, t))
			return c;
	return NULL;
}

static bool is_open(const struct conn *c)
{
	return c->st == CS_SYN_SENT || c->st == CS_ESTABLISHED;
}

/* Frees the stored bytes of C and gives their memory back to the global budget. */
static void drop_buffer(struct replay *r, struct conn *c)
{
	r->st.mem_used -= c->buf.mem;
	replay_buf_clear(&c->buf);
}

static void conn_free(struct replay *r, struct conn *c)
{
	struct conn **pp = &r->hash[tuple_hash(r, &c->t)];

	while (*pp != c)
		pp = &(*pp)->hnext;
	*pp = c->hnext;
	if (c->prev)
		c->prev->next = c->next;
	else
		r->all = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (is_open(c))
		r->st.conns_active--;
	drop_buffer(r, c);
	r->nconns--;
	free(c);
}

/* Makes room by forgetting the least recently active lingering entry; false if none. */
static bool evict_one(struct replay *r)
{
	struct conn *c, *old = NULL;

	for (c = r->all; c; c = c->next)
		if (!is_open(c) && (!old || c->last_active < old->last_active))
			old = c;
	if (!old)
		return false;
	conn_free(r, old);
	return true;
}

static struct conn *conn_add(struct replay *r, const struct replay_tuple *t, uint64_t now)
{
	struct conn *c;
	size_t b;

	if (r->nconns >= r->o.max_conns && !evict_one(r))
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->t = *t;
	c->st = CS_IGNORED;
	c->last_active = now;
	b = tuple_hash(r, t);
	c->hnext = r->hash[b];
	r->hash[b] = c;
	c->next = r->all;
	if (r->all)
		r->all->prev = c;
	r->all = c;
	r->nconns++;
	return c;
}

/* ---- output ----------------------------------------------------------------------------- */

static void emit(struct replay *r, const void *pkt, size_t len)
{
	if (r->o.emit(r->o.ctx, pkt, len) < 0)
		r->st.emit_errors++;
	else
		r->st.pkts_emitted++;
}

/* Sends a client->pod segment whose payload (LEN bytes) is already at the payload offset. */
static void send_seg(struct replay *r, const struct conn *c, uint32_t seq, uint8_t flags,
		     const struct pkt_tcp_opts *opts, size_t len)
{
	struct pkt_tcp_spec s = {
	    .saddr = c->t.caddr,
	    .daddr = c->t.paddr,
	    .sport = c->t.cport,
	    .dport = c->t.pport,
	    .seq = seq,
	    .ack = (flags & PKT_TCP_ACK) ? c->l_rcv_nxt : 0,
	    .flags = flags,
	    .window = (flags & PKT_TCP_RST) ? 0 : OUR_WINDOW,
	    .ip_id = r->ip_id++,
	    .opts = opts,
	};
	size_t off = PKT_IPV4_HDR_LEN + pkt_tcp_hdr_len(opts);
	ssize_t n = pkt_build_tcp(r->out, r->out_cap, &s, r->out + off, len);

	if (n > 0)
		emit(r, r->out, (size_t)n);
}

static void send_syn(struct replay *r, const struct conn *c)
{
	struct pkt_tcp_opts o = {
	    .has_mss = true,
	    .mss = (uint16_t)(r->o.mtu - PKT_IPV4_HDR_LEN - PKT_TCP_HDR_LEN),
	    .has_wscale = true,
	    .wscale = OUR_WSCALE,
	};

	send_seg(r, c, c->c_isn, PKT_TCP_SYN, &o, 0);
}

static void send_ack(struct replay *r, const struct conn *c)
{
	send_seg(r, c, c->snd_nxt, PKT_TCP_ACK, NULL, 0);
}

/* Resets the local side and keeps a lingering entry; REASON says where late bytes count. */
static void reset_local(struct replay *r, struct conn *c, enum drop_reason reason, uint64_t now)
{
	if (is_open(c)) {
		/* snd_max lies in the local window; a challenge ACK then gives the exact number. */
		send_seg(r, c, c->snd_max,
			 PKT_TCP_RST | (c->st == CS_ESTABLISHED ? PKT_TCP_ACK : 0), NULL, 0);
		r->st.conns_active--;
	}
	c->st = CS_RESET;
	c->drop = reason;
	c->rst_left = RST_ANSWERS;
	c->deadline = 0;
	c->gap_since = 0;
	c->last_active = now;
	drop_buffer(r, c);
}

/* A client or local RST (WHO) ended C: delivered if the local stack had acked every copied
 * byte; otherwise the peer itself cut the connection short. */
static void count_peer_reset(struct replay *r, const struct conn *c, const char *who)
{
	char a[INET_ADDRSTRLEN];

	if (c->st == CS_ESTABLISHED && !c->buf.bytes && (!c->fin_rcvd || c->fin_acked)) {
		r->st.conns_delivered++;
		return;
	}
	r->st.conns_reset_early++;
	inet_ntop(AF_INET, &c->t.caddr, a, sizeof(a));
	log_debug("replay: %s reset %s:%u -> :%u before delivery (%s, %zu bytes unacked)", who, a,
		  c->t.cport, c->t.pport, c->st == CS_SYN_SENT ? "handshake" : "established",
		  c->buf.bytes);
}

/* Forgets a connection the local stack reset itself: nothing to send. */
static void local_gone(struct replay *r, struct conn *c, uint64_t now)
{
	if (is_open(c))
		r->st.conns_active--;
	c->st = CS_RESET;
	c->drop = DROP_OTHER;
	c->rst_left = 0;
	c->deadline = 0;
	c->gap_since = 0;
	c->last_active = now;
	drop_buffer(r, c);
}

static void arm_timer(struct conn *c, uint64_t now)
{
	if (!c->deadline)
		c->deadline = now + c->rto;
}

/* Sends what the window allows from snd_nxt, then the FIN once every byte before it went. */
static void try_send(struct replay *r, struct conn *c, uint64_t now, bool *sent)
{
	uint32_t wnd_end, end;
	size_t off = PKT_IPV4_HDR_LEN + PKT_TCP_HDR_LEN;

	if (c->st != CS_ESTABLISHED)
		return;
	wnd_end = c->snd_una + c->snd_wnd;
	/* Until the local stack holds a socket for us, only the first segment: a listener that
	 * answered with a SYN cookie checks every segment's sequence number against the cookie
	 * (it must be ISN + 1) and resets anything later, such as the data or the FIN behind
	 * a first segment that a full accept queue dropped. A real client is no further ahead. */
	if (!c->taken && pkt_seq_lt(c->snd_una + c->seg_max, wnd_end))
		wnd_end = c->snd_una + c->seg_max;
	end = c->buf.contig_end;
	if (c->fin_rcvd && pkt_seq_lt(c->fin_seq, end))
		end = c->fin_seq; /* nothing goes past the client's FIN */
	while (pkt_seq_lt(c->snd_nxt, end) && pkt_seq_lt(c->snd_nxt, wnd_end)) {
		size_t n = end - c->snd_nxt, room = wnd_end - c->snd_nxt;

		if (n > room)
			n = room;
		if (n > c->seg_max)
			n = c->seg_max;
		n = replay_buf_copy(&c->buf, c->snd_nxt, r->out + off, n);
		if (!n)
			break;
		if (pkt_seq_lt(c->snd_nxt, c->snd_max))
			r->st.retransmits++;
		send_seg(r, c, c->snd_nxt, PKT_TCP_ACK | (c->snd_nxt + n == end ? PKT_TCP_PSH : 0),
			 NULL, n);
		c->snd_nxt += (uint32_t)n;
		*sent = true;
	}
	/* A FIN needs no window: Linux takes a bare FIN at rcv_nxt even when the window is 0. */
	if (c->fin_rcvd && c->snd_nxt == c->fin_seq && end == c->fin_seq &&
	    (c->taken || c->fin_seq == c->snd_una)) {
		if (pkt_seq_lt(c->snd_nxt, c->snd_max))
			r->st.retransmits++;
		send_seg(r, c, c->fin_seq, PKT_TCP_ACK | PKT_TCP_FIN, NULL, 0);
		c->snd_nxt = c->fin_seq + 1;
		*sent = true;
	}
	if (pkt_seq_lt(c->snd_max, c->snd_nxt))
		c->snd_max = c->snd_nxt;
	/* Outstanding data needs the retransmission timer, a closed window the probe timer. */
	if (c->snd_una != c->snd_nxt || pkt_seq_lt(c->snd_nxt, end))
		arm_timer(c, now);
}

/* ---- client side (copies from the agent) --------------------------------------------- */

static void update_gap(struct conn *c, uint64_t now)
{
	bool gap = replay_buf_has_gap(&c->buf) ||
		   (c->fin_rcvd && pkt_seq_lt(c->buf.contig_end, c->fin_seq));

	if (!gap) {
		c->gap_since = 0;
	} else if (!c->gap_since || c->gap_contig != c->buf.contig_end) {
		c->gap_since = now ? now : 1;
		c->gap_contig = c->buf.contig_end;
	}
}

static void open_conn(struct replay *r, struct conn *c, const struct pkt_tcp *tcp, uint64_t now)
{
	drop_buffer(r, c);
	c->st = CS_SYN_SENT;
	c->c_isn = tcp->seq;
	c->snd_una = c->snd_nxt = c->snd_max = tcp->seq + 1;
	c->snd_wnd = 0;
	c->fin_rcvd = c->fin_acked = c->l_fin = false;
	c->l_rcv_nxt = 0;
	c->l_wscale = 0;
	c->seg_max = DEFAULT_MSS;
	replay_buf_init(&c->buf, tcp->seq + 1);
	c->rto = r->o.rto_ms;
	c->retries = 0;
	c->dupacks = 0;
	c->gap_since = 0;
	c->last_active = now;
	c->last_heard = now;
	c->taken = false;
	c->deadline = now + c->rto;
	r->st.conns_opened++;
	r->st.conns_active++;
	send_syn(r, c);
}

static void count_late_bytes(struct replay *r, const struct conn *c, size_t len)
{
	if (c->drop == DROP_BUDGET)
		r->st.bytes_over_budget += len;
	else
		r->st.bytes_discarded += len;
}

static void agent_data(struct replay *r, struct conn *c, const struct pkt_tcp *tcp, uint64_t now)
{
	size_t conn_room, total_room;
	long added;

	conn_room = c->buf.mem < r->o.mem_conn ? r->o.mem_conn - c->buf.mem : 0;
	total_room = r->st.mem_used < r->o.mem_total ? r->o.mem_total - r->st.mem_used : 0;
	if (conn_room > total_room)
		conn_room = total_room;
	added = replay_buf_insert(&c->buf, tcp->seq, tcp->payload, tcp->payload_len, conn_room);
	if (added == -ERANGE) {
		r->st.pkts_invalid++;
		return;
	}
	if (added < 0) {
		/* The stream cannot skip bytes: a reset beats handing the app corrupted data. */
		uint64_t lost = tcp->payload_len + c->buf.bytes;

		r->st.bytes_over_budget += lost;
		r->st.resets_budget++;
		reset_local(r, c, DROP_BUDGET, now);
		report(r, REPLAY_EV_OVER_BUDGET, &c->t, lost);
		return;
	}
	r->st.bytes_received += (uint64_t)added;
	r->st.bytes_duplicate += tcp->payload_len - (size_t)added;
}

/* Recomputes the global memory count after C's buffer changed from OLD bytes. */
static void account(struct replay *r, const struct conn *c, size_t old)
{
	r->st.mem_used = r->st.mem_used - old + c->buf.mem;
}

/* The first packet of a tuple: a SYN opens a connection; anything else is mid-stream. */
static void first_packet(struct replay *r, const struct replay_tuple *t, const struct pkt_tcp *tcp,
			 bool syn, uint64_t now)
{
	struct conn *c;

	if (tcp->flags & PKT_TCP_RST)
		return;
	c = conn_add(r, t, now);
	if (!c) {
		if (syn) {
			r->st.conns_table_full++;
			report(r, REPLAY_EV_TABLE_FULL, t, 0);
		}
		r->st.bytes_discarded += tcp->payload_len;
		return;
	}
	if (!syn) {
		c->st = CS_IGNORED;
		r->st.conns_midstream++;
		r->st.bytes_discarded += tcp->payload_len;
		report(r, REPLAY_EV_MIDSTREAM, t, tcp->payload_len);
		return;
	}
	open_conn(r, c, tcp, now);
}

/* A SYN on a known tuple: a retransmission, or the client reusing the port. */
static void known_syn(struct replay *r, struct conn *c, const struct pkt_tcp *tcp, uint64_t now)
{
	if (tcp->seq == c->c_isn && c->st != CS_IGNORED) {
		/* A retransmitted SYN: the first may not have reached the local stack. */
		if (c->st == CS_SYN_SENT)
			send_syn(r, c);
		return;
	}
	/* A new ISN on a known tuple: the client reused the port; the old one is over. */
	if (is_open(c)) {
		count_peer_reset(r, c, "client (new SYN)");
		reset_local(r, c, DROP_OTHER, now);
	}
	open_conn(r, c, tcp, now);
}

/* A segment of an open connection: a reset, data, a FIN; then send what can go. */
static void open_segment(struct replay *r, struct conn *c, const struct pkt_tcp *tcp, uint64_t now)
{
	bool sent = false;
	size_t old;

	c->last_active = now;
	if (tcp->flags & PKT_TCP_RST) {
		r->st.resets_client++;
		count_peer_reset(r, c, "client");
		r->st.bytes_discarded += c->buf.bytes;
		reset_local(r, c, DROP_OTHER, now);
		return;
	}
	if (tcp->payload_len) {
		old = c->buf.mem;
		agent_data(r, c, tcp, now);
		if (!is_open(c))
			return;
		account(r, c, old);
	}
	if ((tcp->flags & PKT_TCP_FIN) && !c->fin_rcvd) {
		uint32_t fin = tcp->seq + (uint32_t)tcp->payload_len;

		/* A FIN before what we already hold would truncate the stream: not plausible. */
		if (pkt_seq_le(c->buf.contig_end, fin) && pkt_seq_le(c->buf.base, fin)) {
			c->fin_rcvd = true;
			c->fin_seq = fin;
		}
	}
	update_gap(c, now);
	try_send(r, c, now, &sent);
}

int replay_from_agent(struct replay *r, const void *pkt, size_t len, uint64_t now)
{
	struct pkt_ipv4 ip;
	struct pkt_tcp tcp;
	struct replay_tuple t;
	struct conn *c;
	bool syn;

	r->st.pkts_agent++;
	if (pkt_parse_ipv4(pkt, len, &ip) || pkt_parse_tcp(&ip, &tcp)) {
		r->st.pkts_invalid++;
		return -EINVAL;
	}
	t = (struct replay_tuple){ip.saddr, ip.daddr, tcp.sport, tcp.dport};
	syn = (tcp.flags & (PKT_TCP_SYN | PKT_TCP_ACK | PKT_TCP_RST)) == PKT_TCP_SYN;
	c = lookup(r, &t);
	if (!c)
		first_packet(r, &t, &tcp, syn, now);
	else if (syn)
		known_syn(r, c, &tcp, now);
	else if (is_open(c))
		open_segment(r, c, &tcp, now);
	else {
		if (c->st == CS_IGNORED || c->st == CS_RESET)
			c->last_active = now;
		count_late_bytes(r, c, tcp.payload_len);
	}
	return 0;
}

/* ---- local side (what the twin's kernel writes to the tun) -------------------------------- */

static void local_synack(struct replay *r, struct conn *c, const struct pkt_tcp *tcp, uint64_t now)
{
	bool sent = false;
	uint32_t mss;

	if (!(tcp->flags & PKT_TCP_ACK) || tcp->ack != c->c_isn + 1)
		return;
	c->l_rcv_nxt = tcp->seq + 1;
	c->l_wscale = tcp->opts.has_wscale ? tcp->opts.wscale : 0;
	mss = tcp->opts.has_mss && tcp->opts.mss ? tcp->opts.mss : DEFAULT_MSS;
	if (mss > r->o.mtu - PKT_IPV4_HDR_LEN - PKT_TCP_HDR_LEN)
		mss = r->o.mtu - PKT_IPV4_HDR_LEN - PKT_TCP_HDR_LEN;
	c->seg_max = (uint16_t)mss;
	/* RFC 7323: the window of a SYN segment is never scaled. */
	c->snd_wnd = tcp->window;
	c->st = CS_ESTABLISHED;
	c->deadline = 0;
	c->retries = 0;
	c->rto = r->o.rto_ms;
	send_ack(r, c);
	try_send(r, c, now, &sent);
}

/* Applies the local stack's ACK and window to what we sent. */
static void local_ack(struct replay *r, struct conn *c, const struct pkt_tcp *tcp, bool bare,
		      uint64_t now)
{
	uint32_t ack = tcp->ack;
	uint32_t wnd = (uint32_t)tcp->window << c->l_wscale;
	size_t old;

	if (pkt_seq_lt(c->snd_una, ack) && pkt_seq_le(ack, c->snd_max)) {
		uint32_t data_end = c->fin_rcvd && pkt_seq_lt(c->fin_seq, ack) ? c->fin_seq : ack;

		r->st.bytes_delivered += data_end - c->snd_una;
		if (c->fin_rcvd && pkt_seq_lt(c->fin_seq, ack))
			c->fin_acked = true;
		old = c->buf.mem;
		replay_buf_release(&c->buf, data_end);
		account(r, c, old);
		c->snd_una = ack;
		if (pkt_seq_lt(c->snd_nxt, ack))
			c->snd_nxt = ack; /* acks from before a go-back-N restart */
		c->retries = 0;
		c->rto = r->o.rto_ms;
		c->dupacks = 0;
		c->deadline = 0;
		c->snd_wnd = wnd;
		return;
	}
	if (ack != c->snd_una)
		return;
	if (bare && wnd == c->snd_wnd && c->snd_nxt != c->snd_una) {
		if (++c->dupacks == DUPACK_THRESH) {
			/* Fast retransmit, go-back-N: the local stack keeps no out-of-order data of
			 * ours worth relying on, and the tun path is short. */
			c->snd_nxt = c->snd_una;
			c->deadline = 0;
		}
	} else if (wnd != c->snd_wnd) {
		c->snd_wnd = wnd;
		c->deadline = 0; /* window opened: stop probing, try now */
		c->rto = r->o.rto_ms;
	}
	(void)now;
}

static void maybe_closed(struct replay *r, struct conn *c, uint64_t now)
{
	if (c->st != CS_ESTABLISHED || !c->fin_acked || !c->l_fin)
		return;
	c->st = CS_CLOSED;
	c->deadline = 0;
	c->last_active = now;
	r->st.conns_active--;
	r->st.conns_closed++;
	r->st.conns_delivered++;
	drop_buffer(r, c);
}

int replay_from_local(struct replay *r, const void *pkt, size_t len, uint64_t now)
{
	struct pkt_ipv4 ip;
	struct pkt_tcp tcp;
	struct replay_tuple t;
	struct conn *c;
	bool sent = false, carries;
	uint32_t end;

	r->st.pkts_local++;
	if (pkt_parse_ipv4(pkt, len, &ip) || pkt_parse_tcp(&ip, &tcp)) {
		r->st.pkts_invalid++;
		return -EINVAL;
	}
	t = (struct replay_tuple){ip.daddr, ip.saddr, tcp.dport, tcp.sport};
	c = lookup(r, &t);
	if (!c || c->st == CS_IGNORED)
		return -ENOENT;
	carries = tcp.payload_len || (tcp.flags & (PKT_TCP_FIN | PKT_TCP_SYN));
	if (c->st == CS_RESET) {
		/* A challenge ACK (RFC 5961) names the exact sequence number the RST needs. */
		if (!(tcp.flags & PKT_TCP_RST) && (tcp.flags & PKT_TCP_ACK) && c->rst_left) {
			c->rst_left--;
			send_seg(r, c, tcp.ack, PKT_TCP_RST, NULL, 0);
		}
		return 0;
	}
	if (c->st == CS_CLOSED) {
		if (!(tcp.flags & PKT_TCP_RST) && carries)
			send_ack(r, c);
		return 0;
	}
	c->last_active = now;
	c->last_heard = now;
	c->heard = true;
	if (tcp.flags & PKT_TCP_RST) {
		if (c->st == CS_SYN_SENT) {
			r->st.conns_refused++;
			report(r, REPLAY_EV_REFUSED, &c->t, 0);
		} else {
			r->st.resets_local++;
			count_peer_reset(r, c, "local stack");
		}
		r->st.bytes_discarded += c->buf.bytes;
		local_gone(r, c, now);
		return 0;
	}
	if (c->st == CS_SYN_SENT) {
		if (tcp.flags & PKT_TCP_SYN)
			local_synack(r, c, &tcp, now);
		return 0;
	}
	if (tcp.flags & PKT_TCP_SYN) {
		/* A repeated SYN-ACK: our handshake ACK got lost (a full accept queue drops it),
		 * and so did the data behind it. The local stack retries on its own timer, a
		 * good moment to try again: a queue slot may just have freed up. */
		send_ack(r, c);
		if (!c->taken && c->snd_una != c->snd_nxt) {
			c->snd_nxt = c->snd_una;
			try_send(r, c, now, &sent);
		}
		return 0;
	}
	c->taken = true;
	/* The local stack's bytes are absorbed: acknowledge everything it sent, gaps included,
	 * since nobody will ever read them. */
	end = tcp.seq + (uint32_t)tcp.payload_len + ((tcp.flags & PKT_TCP_FIN) ? 1 : 0);
	if (pkt_seq_lt(c->l_rcv_nxt, end) && end - c->l_rcv_nxt < MAX_LOCAL_AHEAD)
		c->l_rcv_nxt = end;
	if (tcp.flags & PKT_TCP_FIN)
		c->l_fin = true;
	if (tcp.flags & PKT_TCP_ACK)
		local_ack(r, c, &tcp, !carries, now);
	try_send(r, c, now, &sent);
	if (carries && !sent)
		send_ack(r, c);
	maybe_closed(r, c, now);
	return 0;
}

/* ---- timers ------------------------------------------------------------------------------ */

/* Time since THEN; 0 when the caller's clock went backwards. */
static uint64_t elapsed(uint64_t now, uint64_t then)
{
	return now > then ? now - then : 0;
}

/* Doubles C's timeout, up to a lower ceiling while the local stack has not taken it yet. */
static void backoff(const struct replay *r, struct conn *c)
{
	uint32_t ceil = r->o.rto_max_ms;

	if (!c->taken && ceil > ACCEPT_RTO_MAX_MS)
		ceil = ACCEPT_RTO_MAX_MS;
	c->rto = c->rto * 2 > ceil ? ceil : c->rto * 2;
}

/* True once RETRIES retransmissions and give_up_ms went by without a word from the local stack. */
static bool given_up(const struct replay *r, const struct conn *c, uint32_t retries, uint64_t now)
{
	return c->retries > retries && elapsed(now, c->last_heard) >= r->o.give_up_ms;
}

static void conn_timer(struct replay *r, struct conn *c, uint64_t now)
{
	bool sent = false;

	if (c->st == CS_SYN_SENT) {
		/* A full accept queue drops SYNs silently: retry like a client would. */
		++c->retries;
		if (given_up(r, c, SYN_RETRIES, now)) {
			uint64_t lost = c->buf.bytes;

			r->st.conns_syn_timeout++;
			r->st.bytes_discarded += lost;
			reset_local(r, c, DROP_OTHER, now);
			report(r, REPLAY_EV_SYN_TIMEOUT, &c->t, lost);
			return;
		}
		send_syn(r, c);
		backoff(r, c);
		c->deadline = now + c->rto;
		return;
	}
	c->deadline = 0;
	if (c->heard)
		c->retries = 0; /* alive but dropping (a full receive queue): no reason to reset */
	c->heard = false;
	if (c->snd_una != c->snd_nxt) {
		++c->retries;
		if (given_up(r, c, r->o.max_retrans, now)) {
			uint64_t lost = c->buf.bytes;

			r->st.resets_timeout++;
			r->st.bytes_discarded += lost;
			reset_local(r, c, DROP_OTHER, now);
			report(r, REPLAY_EV_LOCAL_TIMEOUT, &c->t, lost);
			return;
		}
		c->snd_nxt = c->snd_una;
	} else if (pkt_seq_lt(c->snd_nxt, c->buf.contig_end)) {
		/* Zero window: one byte beyond it makes the local stack restate its window (and is
		 * kept if the window has opened meanwhile). It never counts as a retry: an app
		 * stopped at a breakpoint may stay stopped. */
		size_t off = PKT_IPV4_HDR_LEN + PKT_TCP_HDR_LEN;

		if (replay_buf_copy(&c->buf, c->snd_nxt, r->out + off, 1) == 1) {
			send_seg(r, c, c->snd_nxt, PKT_TCP_ACK, NULL, 1);
			if (pkt_seq_lt(c->snd_max, c->snd_nxt + 1))
				c->snd_max = c->snd_nxt + 1;
		}
	}
	backoff(r, c);
	try_send(r, c, now, &sent);
	if (!c->deadline && (c->snd_una != c->snd_nxt || pkt_seq_lt(c->snd_nxt, c->buf.contig_end)))
		c->deadline = now + c->rto;
}

void replay_tick(struct replay *r, uint64_t now)
{
	struct conn *c = r->all, *n;

	for (; c; c = n) {
		n = c->next;
		if (!is_open(c)) {
			uint64_t keep = c->st == CS_IGNORED ? r->o.idle_timeout_ms : r->o.linger_ms;

			if (elapsed(now, c->last_active) >= keep)
				conn_free(r, c);
			continue;
		}
		if (elapsed(now, c->last_active) >= r->o.idle_timeout_ms) {
			uint64_t lost = c->buf.bytes;

			r->st.resets_idle++;
			r->st.bytes_discarded += lost;
			reset_local(r, c, DROP_OTHER, now);
			report(r, REPLAY_EV_IDLE, &c->t, lost);
			continue;
		}
		if (c->gap_since && elapsed(now, c->gap_since) >= r->o.gap_timeout_ms) {
			uint64_t lost = c->buf.bytes;

			r->st.resets_gap++;
			r->st.bytes_discarded += lost;
			reset_local(r, c, DROP_OTHER, now);
			report(r, REPLAY_EV_GAP_TIMEOUT, &c->t, lost);
			continue;
		}
		if (c->deadline && now >= c->deadline)
			conn_timer(r, c, now);
	}
}

/* ---- life cycle ---------------------------------------------------------------------------- */

struct replay *replay_new(const struct replay_opts *opts)
{
	struct replay *r;

	if (!opts || !opts->emit) {
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		goto err;
	r->o = *opts;
	if (!r->o.mem_total)
		r->o.mem_total = DEFAULT_MEM_TOTAL;
	if (!r->o.mem_conn)
		r->o.mem_conn = DEFAULT_MEM_CONN;
	if (!r->o.max_conns)
		r->o.max_conns = 4096;
	if (!r->o.mtu)
		r->o.mtu = 1500;
	if (r->o.mtu < 576)
		r->o.mtu = 576;
	if (r->o.mtu > PKT_IPV4_MAX_LEN)
		r->o.mtu = PKT_IPV4_MAX_LEN;
	if (!r->o.rto_ms)
		r->o.rto_ms = 200;
	if (!r->o.rto_max_ms)
		r->o.rto_max_ms = 3000;
	if (r->o.rto_max_ms < r->o.rto_ms)
		r->o.rto_max_ms = r->o.rto_ms;
	if (!r->o.max_retrans)
		r->o.max_retrans = DEFAULT_MAX_RETRANS;
	if (!r->o.give_up_ms)
		r->o.give_up_ms = DEFAULT_GIVE_UP_MS;
	if (!r->o.gap_timeout_ms)
		r->o.gap_timeout_ms = 3000;
	if (!r->o.idle_timeout_ms)
		r->o.idle_timeout_ms = 300000;
	if (!r->o.linger_ms)
		r->o.linger_ms = 10000;
	for (r->nbuckets = 64; r->nbuckets < r->o.max_conns; r->nbuckets *= 2)
		;
	r->hash = calloc(r->nbuckets, sizeof(*r->hash));
	if (!r->hash)
		goto err_r;
	r->out_cap = r->o.mtu + 64;
	r->out = malloc(r->out_cap);
	if (!r->out)
		goto err_hash;
	return r;

err_hash:
	free(r->hash);
err_r:
	free(r);
err:
	errno = ENOMEM;
	return NULL;
}

void replay_reset_all(struct replay *r)
{
	while (r->all) {
		if (is_open(r->all)) {
			r->st.conns_reset_all++;
			reset_local(r, r->all, DROP_OTHER, 0);
		}
		conn_free(r, r->all);
	}
}

void replay_free(struct replay *r)
{
	if (!r)
		return;
	while (r->all)
		conn_free(r, r->all);
	free(r->out);
	free(r->hash);
	free(r);
}

void replay_stats(const struct replay *r, struct replay_stats *st)
{
	*st = r->st;
	st->conns_tracked = r->nconns;
}
