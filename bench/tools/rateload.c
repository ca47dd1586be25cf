/* Open-loop HTTP/1.1 load generator: a fixed request rate over keep-alive (and optionally fresh)
 * connections, latency measured from each request's scheduled send time. */
/*
 * Usage: rateload -a IP -p PORT [-c CONNS] [-r RATE] [-d SECONDS] [-f SHARE]
 *                 [-H HOST] [-u PATH] [-T] [-w GRACE]
 *
 * Request k is scheduled at start + k / RATE. It goes out on an idle
 * keep-alive connection as soon as one is free; if none is, it waits, and the
 * wait counts in its latency (no coordinated omission: a stalled server makes
 * latencies grow instead of silently lowering the rate). A share SHARE of the
 * requests (0..1) go on a fresh connection each ("Connection: close").
 * One thread, epoll + a timerfd for the schedule. Everything is bounded: at
 * most 3600 s of sending, GRACE seconds (default 2) for the last answers,
 * at most 4096 connections. Prints one JSON object on stdout.
 * -T appends "?t=<CLOCK_REALTIME microseconds at send>" to the path, so a
 * server's access log can tell how long each request took to reach it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 4096
#define MAX_FRESH 512
#define RBUF	  4096
/* Latency histogram: 64 sub-buckets per power of two of microseconds (< 1.6 %). */
#define SUB_BITS 6
#define SUB	 (1u << SUB_BITS)
#define NBUCKETS (40u * SUB)

enum cstate { C_FREE, C_CONNECTING, C_IDLE, C_BUSY };

struct conn {
	int fd;
	enum cstate st;
	bool fresh;
	uint64_t sched_ns; /* scheduled send time of the request in flight */
	size_t rlen;
	char rbuf[RBUF];
	char req[256];
	size_t reqlen;
};

struct opts {
	struct sockaddr_in addr;
	const char *host;
	const char *path;
	unsigned conns;
	double rate;
	double seconds;
	double fresh;
	double grace;
	bool stamp;
};

struct stats {
	uint64_t sent, ok, bad_status, conn_errors, timeouts, fresh;
	uint64_t hist[NBUCKETS];
	uint64_t max_us;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t realtime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
}

static unsigned bucket_of(uint64_t us)
{
	unsigned exp = 0;

	if (us < SUB)
		return (unsigned)us;
	while ((us >> exp) >= 2 * SUB)
		exp++;
	/* us >> exp is in [SUB, 2 SUB): one row of SUB buckets per exponent. */
	unsigned b = (exp + 1) * SUB + (unsigned)((us >> exp) - SUB);
	return b < NBUCKETS ? b : NBUCKETS - 1;
}

static uint64_t bucket_value(unsigned b)
{
	if (b < SUB)
		return b;
	unsigned exp = b / SUB - 1;
	return ((uint64_t)(SUB + b % SUB) << exp) + (exp ? (1ull << exp) / 2 : 0);
}

static void record(struct stats *s, uint64_t lat_ns)
{
	uint64_t us = lat_ns / 1000;

	s->hist[bucket_of(us)]++;
	if (us > s->max_us)
		s->max_us = us;
}

static uint64_t percentile(const struct stats *s, double p)
{
	uint64_t total = 0, seen = 0;

	for (unsigned b = 0; b < NBUCKETS; b++)
		total += s->hist[b];
	if (!total)
		return 0;
	uint64_t want = (uint64_t)(p * (double)total + 0.999999);
	if (want < 1)
		want = 1;
	for (unsigned b = 0; b < NBUCKETS; b++) {
		seen += s->hist[b];
		if (seen >= want)
			return bucket_value(b);
	}
	return s->max_us;
}

static int conn_open(int ep, struct conn *c, const struct opts *o)
{
	int one = 1;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (const struct sockaddr *)&o->addr, sizeof(o->addr)) < 0 &&
	    errno != EINPROGRESS) {
		int err = -errno;
		close(c->fd);
		c->fd = -1;
		return err;
	}
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		int err = -errno;
		close(c->fd);
		c->fd = -1;
		return err;
	}
	c->st = C_CONNECTING;
	c->rlen = 0;
	return 0;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->st = C_FREE;
	c->rlen = 0;
}

static void build_req(struct conn *c, const struct opts *o)
{
	char q[48] = "";

	if (o->stamp)
		snprintf(q, sizeof(q), "%ct=%llu", strchr(o->path, '?') ? '&' : '?',
			 (unsigned long long)realtime_us());
	c->reqlen =
	    (size_t)snprintf(c->req, sizeof(c->req), "GET %s%s HTTP/1.1\r\nHost: %s\r\n%s\r\n",
			     o->path, q, o->host, c->fresh ? "Connection: close\r\n" : "");
}

/* Sends the request in c->req; it is small, so one send() takes it whole. */
static int conn_send(struct conn *c)
{
	ssize_t n = send(c->fd, c->req, c->reqlen, MSG_NOSIGNAL);

	if (n != (ssize_t)c->reqlen)
		return -EIO;
	c->st = C_BUSY;
	return 0;
}

/*
 * Parses a complete response in c->rbuf: returns its length (headers + body),
 * 0 when more bytes are needed, -EPROTO when it cannot be parsed.
 */
static ssize_t parse_resp(struct conn *c, int *status)
{
	char *end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
	size_t hlen, clen = 0;

	if (!end)
		return c->rlen >= sizeof(c->rbuf) ? -EPROTO : 0;
	hlen = (size_t)(end - c->rbuf) + 4;
	if (c->rlen < 12 || strncmp(c->rbuf, "HTTP/1.", 7))
		return -EPROTO;
	*status = atoi(c->rbuf + 9);
	for (char *p = c->rbuf; p && p < end; p = memmem(p, (size_t)(end - p), "\r\n", 2)) {
		p += 2;
		if (strncasecmp(p, "Content-Length:", 15) == 0)
			clen = strtoul(p + 15, NULL, 10);
	}
	if (hlen + clen > sizeof(c->rbuf))
		return -EPROTO;
	return c->rlen >= hlen + clen ? (ssize_t)(hlen + clen) : 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: rateload -a IP -p PORT [-c CONNS] [-r RATE] [-d SECONDS] "
			"[-f FRESH_SHARE] [-H HOST] [-u PATH] [-T] [-w GRACE]\n");
	return 2;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	int ch, port = 0;
	const char *ip = NULL;

	*o = (struct opts){
	    .host = "bench", .path = "/", .conns = 32, .rate = 1000, .seconds = 5, .grace = 2};
	while ((ch = getopt(argc, argv, "a:p:c:r:d:f:H:u:Tw:")) != -1) {
		switch (ch) {
		case 'a':
			ip = optarg;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 'c':
			o->conns = (unsigned)atoi(optarg);
			break;
		case 'r':
			o->rate = atof(optarg);
			break;
		case 'd':
			o->seconds = atof(optarg);
			break;
		case 'f':
			o->fresh = atof(optarg);
			break;
		case 'H':
			o->host = optarg;
			break;
		case 'u':
			o->path = optarg;
			break;
		case 'T':
			o->stamp = true;
			break;
		case 'w':
			o->grace = atof(optarg);
			break;
		default:
			return -EINVAL;
		}
	}
	o->addr.sin_family = AF_INET;
	o->addr.sin_port = htons((uint16_t)port);
	if (!ip || inet_pton(AF_INET, ip, &o->addr.sin_addr) != 1 || port <= 0 || port > 65535)
		return -EINVAL;
	if (o->conns < 1 || o->conns > MAX_CONNS || o->rate <= 0 || o->rate > 1e6 ||
	    o->seconds <= 0 || o->seconds > 3600 || o->fresh < 0 || o->fresh > 1 || o->grace < 0 ||
	    o->grace > 60 || strlen(o->path) > 128 || strlen(o->host) > 64)
		return -EINVAL;
	return 0;
}

/* Arms the timer for absolute monotonic time t (0 disarms). */
static void arm(int tfd, uint64_t t)
{
	struct itimerspec its = {0};

	its.it_value.tv_sec = (time_t)(t / 1000000000ull);
	its.it_value.tv_nsec = (long)(t % 1000000000ull);
	if (t == 0)
		its.it_value.tv_nsec = 0;
	timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

struct run {
	const struct opts *o;
	struct stats st;
	struct conn *conns; /* o->conns keep-alive, then MAX_FRESH fresh slots */
	int ep, tfd;
	uint64_t start, total, next; /* next = index of the next request to send */
	unsigned fresh_busy;
};

static uint64_t sched_of(const struct run *r, uint64_t k)
{
	return r->start + (uint64_t)((double)k * 1e9 / r->o->rate);
}

static bool is_fresh(const struct run *r, uint64_t k)
{
	/* Spread fresh requests evenly: request k is fresh when floor(k f) steps. */
	return r->o->fresh > 0 &&
	       (uint64_t)((double)(k + 1) * r->o->fresh) > (uint64_t)((double)k * r->o->fresh);
}

static void fail(struct run *r, struct conn *c, bool counted_as_sent)
{
	if (counted_as_sent || c->st == C_BUSY || c->fresh)
		r->st.conn_errors++;
	if (c->fresh)
		r->fresh_busy--;
	conn_close(c);
}

/* Sends every request that is due, as far as connections allow. */
static void dispatch(struct run *r, uint64_t now)
{
	const struct opts *o = r->o;

	while (r->next < r->total && sched_of(r, r->next) <= now) {
		struct conn *c = NULL;
		bool fresh = is_fresh(r, r->next);

		if (fresh) {
			if (r->fresh_busy >= MAX_FRESH)
				return;
			for (unsigned i = o->conns; i < o->conns + MAX_FRESH; i++)
				if (r->conns[i].st == C_FREE) {
					c = &r->conns[i];
					break;
				}
			if (!c)
				return;
			c->fresh = true;
			c->sched_ns = sched_of(r, r->next);
			r->next++;
			r->st.sent++;
			r->st.fresh++;
			if (conn_open(r->ep, c, o)) {
				r->st.conn_errors++;
				conn_close(c);
				continue;
			}
			r->fresh_busy++;
			continue;
		}
		for (unsigned i = 0; i < o->conns; i++)
			if (r->conns[i].st == C_IDLE) {
				c = &r->conns[i];
				break;
			}
		if (!c)
			return; /* all busy: the request waits, and its wait counts */
		c->sched_ns = sched_of(r, r->next);
		build_req(c, o);
		r->next++;
		r->st.sent++;
		if (conn_send(c))
			fail(r, c, true);
	}
}

static void on_event(struct run *r, struct conn *c, uint32_t events)
{
	if (c->st == C_CONNECTING) {
		int err = 0;
		socklen_t l = sizeof(err);
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};

		if (!(events & EPOLLOUT) && !(events & (EPOLLERR | EPOLLHUP)))
			return;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err || (events & (EPOLLERR | EPOLLHUP))) {
			fail(r, c, false);
			return;
		}
		epoll_ctl(r->ep, EPOLL_CTL_MOD, c->fd, &ev);
		if (c->fresh) {
			build_req(c, r->o);
			if (conn_send(c))
				fail(r, c, false);
		} else {
			c->st = C_IDLE;
		}
		return;
	}
	for (;;) {
		ssize_t n = recv(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, 0);
		int status = 0;
		ssize_t len;

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			fail(r, c, false);
			return;
		}
		if (n < 0)
			return;
		c->rlen += (size_t)n;
		len = parse_resp(c, &status);
		if (len == 0)
			continue;
		if (len < 0 || c->st != C_BUSY) {
			fail(r, c, false);
			return;
		}
		record(&r->st, now_ns() - c->sched_ns);
		if (status == 200)
			r->st.ok++;
		else
			r->st.bad_status++;
		memmove(c->rbuf, c->rbuf + len, c->rlen - (size_t)len);
		c->rlen -= (size_t)len;
		if (c->fresh) {
			r->fresh_busy--;
			conn_close(c);
			return;
		}
		c->st = C_IDLE;
		return;
	}
}

/* Keep-alive connections that died are reopened (bounded by the run's length). */
static void reopen(struct run *r)
{
	for (unsigned i = 0; i < r->o->conns; i++) {
		struct conn *c = &r->conns[i];
		if (c->st == C_FREE && conn_open(r->ep, c, r->o))
			r->st.conn_errors++;
	}
}

int main(int argc, char **argv)
{
	struct opts o;
	struct run r = {0};
	struct epoll_event evs[256];
	struct epoll_event tev = {.events = EPOLLIN, .data.ptr = NULL};
	uint64_t end_send, deadline, last_reopen = 0;
	double elapsed;
	int rc = 1;

	if (parse_opts(argc, argv, &o))
		return usage();
	r.o = &o;
	r.total = (uint64_t)(o.rate * o.seconds);
	r.conns = calloc(o.conns + MAX_FRESH, sizeof(*r.conns));
	r.ep = epoll_create1(EPOLL_CLOEXEC);
	r.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (!r.conns || r.ep < 0 || r.tfd < 0 || epoll_ctl(r.ep, EPOLL_CTL_ADD, r.tfd, &tev) < 0) {
		perror("rateload: setup");
		goto out;
	}
	for (unsigned i = 0; i < o.conns + MAX_FRESH; i++)
		r.conns[i].fd = -1;
	reopen(&r);
	/* Give the keep-alive connections up to 1 s to be established first. */
	deadline = now_ns() + 1000000000ull;
	for (;;) {
		unsigned idle = 0;
		for (unsigned i = 0; i < o.conns; i++)
			idle += r.conns[i].st == C_IDLE;
		if (idle == o.conns || now_ns() > deadline)
			break;
		int n = epoll_wait(r.ep, evs, 256, 10);
		for (int i = 0; i < n; i++)
			if (evs[i].data.ptr)
				on_event(&r, evs[i].data.ptr, evs[i].events);
	}
	r.st.conn_errors = 0;
	r.start = now_ns();
	end_send = sched_of(&r, r.total);
	deadline = end_send + (uint64_t)(o.grace * 1e9);
	for (;;) {
		uint64_t now = now_ns();
		bool busy = false;

		dispatch(&r, now);
		/* Only once everything is sent: is anything still in flight? */
		for (unsigned i = 0; r.next >= r.total && i < o.conns + MAX_FRESH && !busy; i++)
			busy = r.conns[i].st == C_BUSY ||
			       (r.conns[i].st == C_CONNECTING && r.conns[i].fresh);
		if ((r.next >= r.total && !busy) || now >= deadline)
			break;
		if (now - last_reopen > 100000000ull) {
			reopen(&r);
			last_reopen = now;
		}
		/* Sleep until the next scheduled request (or the deadline). */
		arm(r.tfd, r.next < r.total ? sched_of(&r, r.next) : deadline);
		int n = epoll_wait(r.ep, evs, 256, 100);
		for (int i = 0; i < n; i++) {
			if (!evs[i].data.ptr) {
				uint64_t exp;
				if (read(r.tfd, &exp, sizeof(exp)) < 0 && errno != EAGAIN)
					perror("rateload: timerfd");
				continue;
			}
			on_event(&r, evs[i].data.ptr, evs[i].events);
		}
	}
	for (unsigned i = 0; i < o.conns + MAX_FRESH; i++)
		if (r.conns[i].st == C_BUSY || (r.conns[i].st == C_CONNECTING && r.conns[i].fresh))
			r.st.timeouts++;
	/* Requests never sent (the server could not keep up) are not counted as sent. */
	elapsed = (double)(now_ns() - r.start) / 1e9;
	printf("{\"target_rate\": %.0f, \"seconds\": %.3f, \"conns\": %u, \"fresh_share\": %.3f, "
	       "\"scheduled\": %llu, \"sent\": %llu, \"fresh\": %llu, \"ok\": %llu, "
	       "\"errors\": %llu, \"bad_status\": %llu, \"conn_errors\": %llu, "
	       "\"timeouts\": %llu, \"rate\": %.1f, \"p50_us\": %llu, \"p90_us\": %llu, "
	       "\"p99_us\": %llu, \"p999_us\": %llu, \"max_us\": %llu}\n",
	       o.rate, elapsed, o.conns, o.fresh, (unsigned long long)r.total,
	       (unsigned long long)r.st.sent, (unsigned long long)r.st.fresh,
	       (unsigned long long)r.st.ok,
	       (unsigned long long)(r.st.bad_status + r.st.conn_errors + r.st.timeouts +
				    (r.total - r.st.sent)),
	       (unsigned long long)r.st.bad_status, (unsigned long long)r.st.conn_errors,
	       (unsigned long long)r.st.timeouts, (double)r.st.ok / o.seconds,
	       (unsigned long long)percentile(&r.st, 0.50),
	       (unsigned long long)percentile(&r.st, 0.90),
	       (unsigned long long)percentile(&r.st, 0.99),
	       (unsigned long long)percentile(&r.st, 0.999), (unsigned long long)r.st.max_us);
	rc = r.st.ok == r.total ? 0 : 3;
out:
	for (unsigned i = 0; r.conns && i < o.conns + MAX_FRESH; i++)
		if (r.conns[i].fd >= 0)
			close(r.conns[i].fd);
	free(r.conns);
	if (r.ep >= 0)
		close(r.ep);
	if (r.tfd >= 0)
		close(r.tfd);
	return rc;
}
