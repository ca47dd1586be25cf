/* TCP replayer: makes the twin's kernel accept mirrored client->pod streams written to its tun. */
#ifndef BPFMIRROR_REPLAY_H
#define BPFMIRROR_REPLAY_H

#include <stddef.h>
#include <stdint.h>

/* A connection as the client sees it; addresses in network byte order, ports in host order. */
struct replay_tuple {
	uint32_t caddr;
	uint32_t paddr;
	uint16_t cport;
	uint16_t pport;
};

/* Things that lose data or connections; each is counted in the stats and reported. */
enum replay_event {
	REPLAY_EV_OVER_BUDGET,	 /* bytes beyond the memory budget: dropped, local side reset */
	REPLAY_EV_GAP_TIMEOUT,	 /* the copies missed bytes for too long: local side reset */
	REPLAY_EV_LOCAL_TIMEOUT, /* the local stack stopped acknowledging: local side reset */
	REPLAY_EV_MIDSTREAM,	 /* a connection whose SYN was never seen: ignored */
	REPLAY_EV_REFUSED,	 /* the local stack answered the SYN with RST (nothing listening) */
	REPLAY_EV_TABLE_FULL,	 /* connection limit reached: the SYN was not replayed */
	REPLAY_EV_IDLE,		 /* idle connection removed, local side reset */
	REPLAY_EV_SYN_TIMEOUT,	 /* the local stack never answered our SYN: given up */
	REPLAY_EV_COUNT,
};

/* Zero fields take the defaults given in brackets. Times are milliseconds. */
struct replay_opts {
	size_t mem_total;	  /* payload buffered across all connections [64 MiB] */
	size_t mem_conn;	  /* payload buffered per connection [4 MiB] */
	unsigned max_conns;	  /* tracked connections, lingering ones included [4096] */
	unsigned mtu;		  /* MTU of the tun: largest packet emitted [1500] */
	uint32_t rto_ms;	  /* first retransmission timeout [200] */
	uint32_t rto_max_ms;	  /* backoff ceiling, also for zero-window probes [3000] */
	uint32_t max_retrans;	  /* unanswered retransmissions before a reset [8] ... */
	uint32_t give_up_ms;	  /* ... and no local answer for this long [60000] */
	uint32_t gap_timeout_ms;  /* how long a hole in the copies may stay open [3000] */
	uint32_t idle_timeout_ms; /* silence after which a connection is removed [300000] */
	uint32_t linger_ms;	  /* how long closed/reset connections are remembered [10000] */
	/* Writes one IPv4 packet into the tun; a negative return counts as a lost packet. */
	int (*emit)(void *ctx, const void *pkt, size_t len);
	/* Optional: told about every replay_event (BYTES: data lost with it, if any). */
	void (*report)(void *ctx, enum replay_event ev, const struct replay_tuple *t,
		       uint64_t bytes);
	void *ctx;
};

struct replay_stats {
	uint64_t conns_active;	    /* handshaking or established now */
	uint64_t conns_tracked;	    /* entries now, lingering ones included */
	uint64_t conns_opened;	    /* client SYNs replayed */
	uint64_t conns_closed;	    /* closed by FIN from both sides */
	uint64_t conns_midstream;   /* seen without their SYN: ignored */
	uint64_t conns_refused;	    /* local stack refused the SYN */
	uint64_t conns_table_full;  /* SYNs not replayed for the connection limit */
	uint64_t conns_delivered;   /* ended with every copied byte acked by the local stack */
	uint64_t conns_syn_timeout; /* given up: the local stack never answered our SYN */
	uint64_t conns_reset_all;   /* open when replay_reset_all() reset them */
	uint64_t conns_reset_early; /* reset by client or local stack before all bytes were acked */
	uint64_t resets_client;	    /* client RSTs passed on */
	uint64_t resets_local;	    /* local stack reset an established connection */
	uint64_t resets_gap;	    /* reset: copy gap never filled */
	uint64_t resets_budget;	    /* reset: memory budget exceeded */
	uint64_t resets_timeout;    /* reset: local stack stopped answering (established) */
	uint64_t resets_idle;	    /* reset: idle */
	uint64_t bytes_received;    /* new payload bytes from the copies */
	uint64_t bytes_duplicate;   /* payload bytes received again */
	uint64_t bytes_delivered;   /* payload bytes acknowledged by the local stack */
	uint64_t bytes_over_budget; /* dropped for the budget (the rest of that connection too) */
	uint64_t bytes_discarded;   /* dropped: connection ignored or reset for another reason */
	uint64_t pkts_agent;	    /* packets given to replay_from_agent() */
	uint64_t pkts_local;	    /* packets given to replay_from_local() */
	uint64_t pkts_emitted;	    /* packets written to the tun */
	uint64_t pkts_invalid;	    /* malformed or not TCP/IPv4 */
	uint64_t emit_errors;	    /* emit() failures */
	uint64_t retransmits;	    /* segments sent again */
	uint64_t mem_used;	    /* bytes buffered now */
};

struct replay;

/* Returns a replayer, or NULL with errno set (EINVAL without emit, ENOMEM). */
struct replay *replay_new(const struct replay_opts *opts);
/* Resets nothing on the local side: callers that keep the tun should reset first. */
void replay_free(struct replay *r);

/* A mirrored client->pod packet. Returns 0 (also when dropped and counted) or -EINVAL. */
int replay_from_agent(struct replay *r, const void *pkt, size_t len, uint64_t now_ms);
/*
 * A packet the local kernel wrote to the tun. Returns 0 when it belongs to a replayed
 * connection (it is absorbed), -ENOENT when it does not (the caller may route it elsewhere),
 * -EINVAL when malformed.
 */
int replay_from_local(struct replay *r, const void *pkt, size_t len, uint64_t now_ms);
/* Runs the timers: retransmission, zero-window probes, gap and idle timeouts, lingering. */
void replay_tick(struct replay *r, uint64_t now_ms);
/* Sends RST to the local side of every open connection and forgets them all. */
void replay_reset_all(struct replay *r);
void replay_stats(const struct replay *r, struct replay_stats *st);

/* Short name of an event, for logs. */
const char *replay_event_name(enum replay_event ev);

#endif
