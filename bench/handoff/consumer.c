/* Benchmark consumer: attaches the data plane to one link in mirror mode and counts handed-off
 * packets. */
#include "datapath.h"
#include "log.h"

#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static volatile sig_atomic_t stop;

struct counts {
	unsigned long long pkts;
	unsigned long long bytes;
};

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int on_pkt(void *ctx, const struct datapath_pkt *pkt)
{
	struct counts *c = ctx;

	c->pkts++;
	c->bytes += pkt->len;
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct datapath_opts o = DATAPATH_OPTS_DEFAULT;
	struct bm_stat st[BM_R_MAX];
	struct datapath_ip pod;
	struct counts c = {0, 0};
	struct datapath *dp;
	struct pollfd pfd;
	struct rusage ru;
	double deadline;
	int ifindex, n, rc = 1;
	unsigned long loops = 0;

	if (argc != 6) {
		fprintf(stderr, "usage: %s ringbuf|batch|tun DEV POD_IP PORT MAX_SECONDS\n",
			argv[0]);
		return 2;
	}
	o.handoff = strcmp(argv[1], "tun") == 0 ? DATAPATH_HANDOFF_TUN : DATAPATH_HANDOFF_RINGBUF;
	/* "ringbuf": a wakeup per copy; "batch" (the default): per 64 KiB or timer. */
	if (strcmp(argv[1], "batch") != 0)
		o.mirror_batch_bytes = 0;
	ifindex = (int)if_nametoindex(argv[2]);
	if (!ifindex || datapath_ip_parse(argv[3], &pod)) {
		fprintf(stderr, "consumer: bad device or address\n");
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	dp = datapath_open(&o);
	if (!dp) {
		log_error("consumer: datapath_open: %s", strerror(errno));
		return 1;
	}
	if (datapath_attach_pod(dp, ifindex, NULL) ||
	    datapath_subscribe(dp, &pod, (uint16_t)atoi(argv[4]), DATAPATH_MIRROR, 1))
		goto out;
	printf("ready\n");
	fflush(stdout);
	pfd.fd = datapath_fd(dp);
	pfd.events = POLLIN;
	/* Bounded: exits after MAX_SECONDS even if nobody signals it. */
	deadline = now_s() + atof(argv[5]);
	while (!stop && now_s() < deadline) {
		if (poll(&pfd, 1, 100) < 0 && errno != EINTR)
			goto out;
		n = datapath_poll(dp, on_pkt, &c);
		loops++;
		if (n < 0 && n != -EINTR)
			goto out;
	}
	datapath_poll(dp, on_pkt, &c);
	if (datapath_stats(dp, st))
		goto out;
	getrusage(RUSAGE_SELF, &ru);
	printf("wakeups=%lu ", loops);
	printf("received=%llu mirrored=%llu handoff_failed=%llu acks_skipped=%llu cpu_s=%.2f\n",
	       c.pkts, (unsigned long long)st[BM_R_MIRRORED].packets,
	       (unsigned long long)st[BM_R_HANDOFF_FAILED].packets,
	       (unsigned long long)st[BM_R_MIRROR_ACK].packets,
	       (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		   (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	rc = 0;
out:
	datapath_close(dp);
	return rc;
}
