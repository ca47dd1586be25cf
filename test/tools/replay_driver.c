/* Test driver: plays a synthetic client's copied packets through the replayer into a real tun. */
#include "log.h"
#include "pkt.h"
#include "replay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

/*
 * Usage: replay_driver TUN CLIENT_IP:PORT POD_IP:PORT FILE...
 * Each FILE is one request of a keep-alive connection: its bytes are cut into segments that
 * are sent reordered, partly duplicated and with a late segment (a copy-path gap), and the
 * next request starts once the local stack has acknowledged the previous one. Then the client
 * closes. Exit 0 when every byte was acknowledged and the connection closed on both sides.
 */

#define SEG	    1000
#define ISN	    0xfffffc00u /* wraps early: sequence arithmetic is exercised */
#define WAIT_MS	    10000
#define MAX_REQUEST (8u << 20)

struct driver {
	int fd;
	struct replay *r;
	uint32_t caddr, paddr;
	uint16_t cport, pport;
	uint32_t next_seq; /* client sequence number after the last byte sent */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int tun_write(void *ctx, const void *pkt, size_t len)
{
	struct driver *d = ctx;

	return write(d->fd, pkt, len) == (ssize_t)len ? 0 : -errno;
}

static int tun_open(const char *name)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* Reads what the local kernel wrote and runs the timers, for up to MS milliseconds. */
static void pump(struct driver *d, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;
	uint8_t buf[65536];

	do {
		struct pollfd p = {.fd = d->fd, .events = POLLIN};
		ssize_t n;

		poll(&p, 1, ms > 0 ? 5 : 0);
		while ((n = read(d->fd, buf, sizeof(buf))) > 0)
			replay_from_local(d->r, buf, (size_t)n, now_ms());
		replay_tick(d->r, now_ms());
	} while (now_ms() < end);
}

/* Sends one copied client segment. */
static void client(struct driver *d, uint8_t flags, uint32_t seq, const void *data, size_t len)
{
	static uint8_t buf[2048];
	struct pkt_tcp_opts o = {.has_mss = true,
				 .mss = 1460,
				 .has_wscale = true,
				 .wscale = 9,
				 .sack_ok = true,
				 .has_ts = false};
	struct pkt_tcp_spec s = {.saddr = d->caddr,
				 .daddr = d->paddr,
				 .sport = d->cport,
				 .dport = d->pport,
				 .seq = seq,
				 .ack = 0x5eed,
				 .flags = flags,
				 .window = 502,
				 .opts = (flags & PKT_TCP_SYN) ? &o : NULL};
	ssize_t n = pkt_build_tcp(buf, sizeof(buf), &s, data, len);

	if (n < 0 || replay_from_agent(d->r, buf, (size_t)n, now_ms()) < 0) {
		fprintf(stderr, "replay_driver: cannot build or replay a segment\n");
		exit(1);
	}
}

/* Waits until FN(stats) holds or WAIT_MS passed; returns whether it held. */
static int wait_for(struct driver *d, int (*fn)(const struct replay_stats *, uint64_t),
		    uint64_t arg)
{
	uint64_t end = now_ms() + WAIT_MS;
	struct replay_stats st;

	do {
		pump(d, 5);
		replay_stats(d->r, &st);
		if (fn(&st, arg))
			return 1;
	} while (now_ms() < end);
	return 0;
}

static int delivered(const struct replay_stats *st, uint64_t bytes)
{
	return st->bytes_delivered >= bytes;
}

static int established(const struct replay_stats *st, uint64_t unused)
{
	(void)unused;
	return st->pkts_local > 0;
}

static int closed(const struct replay_stats *st, uint64_t unused)
{
	(void)unused;
	return st->conns_closed == 1;
}

/* Sends one request: pairs swapped, every third segment twice, the second one 50 ms late. */
static void send_request(struct driver *d, const uint8_t *req, size_t len)
{
	size_t nseg = (len + SEG - 1) / SEG, i;
	uint32_t base = d->next_seq;

	for (i = 0; i < nseg; i += 2) {
		size_t j, order[2] = {i + 1, i};

		for (j = 0; j < 2; j++) {
			size_t k = order[j], off = k * SEG, n;

			if (k >= nseg || (k == 1 && nseg > 2))
				continue;
			n = len - off < SEG ? len - off : SEG;
			client(d, PKT_TCP_ACK | PKT_TCP_PSH, base + (uint32_t)off, req + off, n);
			if (k % 3 == 0)
				client(d, PKT_TCP_ACK, base + (uint32_t)off, req + off, n);
		}
		pump(d, 0);
	}
	if (nseg > 2) {
		pump(d, 50);
		client(d, PKT_TCP_ACK, base + SEG, req + SEG, SEG);
	}
	d->next_seq = base + (uint32_t)len;
}

static int parse_addr(const char *s, uint32_t *addr, uint16_t *port)
{
	char host[64];
	const char *colon = strrchr(s, ':');

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	if (inet_pton(AF_INET, host, addr) != 1)
		return -EINVAL;
	*port = (uint16_t)atoi(colon + 1);
	return 0;
}

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = malloc(MAX_REQUEST);

	if (!f || !buf) {
		free(buf);
		if (f)
			fclose(f);
		return NULL;
	}
	*len = fread(buf, 1, MAX_REQUEST, f);
	fclose(f);
	return buf;
}

int main(int argc, char **argv)
{
	struct replay_opts o = {.emit = tun_write, .mtu = 1500};
	struct driver d = {0};
	struct replay_stats st;
	uint64_t total = 0;
	int i, ok = 0;

	if (argc < 5 || parse_addr(argv[2], &d.caddr, &d.cport) ||
	    parse_addr(argv[3], &d.paddr, &d.pport)) {
		fprintf(stderr, "usage: %s TUN CLIENT_IP:PORT POD_IP:PORT FILE...\n", argv[0]);
		return 2;
	}
	log_set_level(LOG_LVL_INFO);
	d.fd = tun_open(argv[1]);
	if (d.fd < 0) {
		fprintf(stderr, "replay_driver: tun %s: %s\n", argv[1], strerror(-d.fd));
		return 1;
	}
	o.ctx = &d;
	d.r = replay_new(&o);
	if (!d.r)
		goto out;
	client(&d, PKT_TCP_SYN, ISN, NULL, 0);
	client(&d, PKT_TCP_SYN, ISN, NULL, 0); /* a duplicated SYN copy */
	d.next_seq = ISN + 1;
	if (!wait_for(&d, established, 0)) {
		fprintf(stderr, "replay_driver: no answer to the SYN\n");
		goto out;
	}
	for (i = 4; i < argc; i++) {
		size_t len = 0;
		uint8_t *req = read_file(argv[i], &len);

		if (!req) {
			fprintf(stderr, "replay_driver: cannot read %s\n", argv[i]);
			goto out;
		}
		send_request(&d, req, len);
		free(req);
		total += len;
		if (!wait_for(&d, delivered, total)) {
			fprintf(stderr, "replay_driver: request %d not acknowledged\n", i - 3);
			goto out;
		}
	}
	client(&d, PKT_TCP_ACK | PKT_TCP_FIN, d.next_seq, NULL, 0);
	client(&d, PKT_TCP_ACK | PKT_TCP_FIN, d.next_seq, NULL, 0);
	ok = wait_for(&d, closed, 0);
	if (!ok)
		fprintf(stderr, "replay_driver: connection did not close\n");
out:
	if (d.r) {
		replay_stats(d.r, &st);
		printf("replay_driver: delivered=%llu/%llu received=%llu dup=%llu emitted=%llu "
		       "local=%llu retrans=%llu closed=%llu resets=%llu/%llu/%llu invalid=%llu\n",
		       (unsigned long long)st.bytes_delivered, (unsigned long long)total,
		       (unsigned long long)st.bytes_received,
		       (unsigned long long)st.bytes_duplicate, (unsigned long long)st.pkts_emitted,
		       (unsigned long long)st.pkts_local, (unsigned long long)st.retransmits,
		       (unsigned long long)st.conns_closed, (unsigned long long)st.resets_local,
		       (unsigned long long)st.resets_gap, (unsigned long long)st.resets_timeout,
		       (unsigned long long)st.pkts_invalid);
		ok = ok && st.bytes_delivered == total;
		replay_free(d.r);
	}
	close(d.fd);
	return ok ? 0 : 1;
}
