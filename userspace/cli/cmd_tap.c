/* bpfmirror tap: mirror a pod's incoming packets from its agent into a pcap file or counts. */
#include "client.h"
#include "commands.h"
#include "log.h"
#include "opttab.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TAP_MAX_PORTS 16

struct tap_opts {
	const char *agent;
	const char *pod_ip;
	const char *container_id;
	const char *ns;
	const char *pod;
	const char *pod_uid;
	const char *pcap;
	uint32_t ports[TAP_MAX_PORTS];
	size_t nports;
	long max_packets;
	long max_requests;
	double seconds;
	bool steal;
};

struct tap_counts {
	unsigned long long packets, bytes, syn, fin, rst, requests;
};

static volatile sig_atomic_t tap_stop;

static void on_sig(int sig)
{
	(void)sig;
	tap_stop = 1;
}

static const struct opttab_opt tap_opts[] = {
    {"agent", 'a', 0, "HOST:PORT", "the node agent of the pod (required)"},
    {"pod-ip", 'i', 0, "IP", "the pod's address (required)"},
    {"container-id", 'c', 0, "ID", "the container's runtime id (required)"},
    {"port", 'p', OPTTAB_SHORT, "PORT", "a port to mirror; repeat for more (at least one)"},
    {"write", 'w', OPTTAB_SHORT, "FILE.pcap", "write the packets there (raw IP)"},
    {"count", 'C', 0, "N", "stop after N packets"},
    {"requests", 'R', 0, "N", "stop after N requests"},
    {"seconds", 's', 0, "S", "stop after S seconds"},
    {"namespace", 'n', OPTTAB_SHORT, "NS", "the pod's namespace in the request (default: default)"},
    {"pod", 'P', 0, "NAME", "the pod's name in the request"},
    {"pod-uid", 'u', 0, "UID", "the pod's UID in the request (the agent verifies all three)"},
    {"help", 'h', OPTTAB_SHORT, NULL, "show this help"},
    {0},
};

static struct opttab tap_tab = {
    .opts = tap_opts,
    .usage = "bpfmirror tap --agent HOST:PORT --pod-ip IP --container-id ID -p PORT... [OPTIONS]",
    .about = "Mirrors the pod's new incoming TCP connections through its node agent and\n"
	     "writes the packets to a pcap file (raw IP); prints the counts as JSON.\n",
};

static int take_port(struct tap_opts *o, const char *arg)
{
	char *end;
	long v = strtol(arg, &end, 10);

	if (*end || v < 1 || v > 65535 || o->nports == TAP_MAX_PORTS) {
		log_error("tap: bad port '%s' (1-65535, at most %d)", arg, TAP_MAX_PORTS);
		return 2;
	}
	o->ports[o->nports++] = (uint32_t)v;
	return 0;
}

static int parse_tap(int argc, char **argv, struct tap_opts *o)
{
	const char *arg;
	int c;

	if (opttab_init(&tap_tab))
		return 2;
	while ((c = opttab_next(&tap_tab, argc, argv, &arg)) != -1) {
		switch (c) {
		case 'a':
			o->agent = arg;
			break;
		case 'i':
			o->pod_ip = arg;
			break;
		case 'c':
			o->container_id = arg;
			break;
		case 'n':
			o->ns = arg;
			break;
		case 'P':
			o->pod = arg;
			break;
		case 'u':
			o->pod_uid = arg;
			break;
		case 'p':
			if (take_port(o, arg))
				return 2;
			break;
		case 'w':
			o->pcap = arg;
			break;
		case 'C':
			o->max_packets = strtol(arg, NULL, 10);
			break;
		case 'R':
			o->max_requests = strtol(arg, NULL, 10);
			break;
		case 's':
			o->seconds = strtod(arg, NULL);
			break;
		case 'h':
			opttab_usage(&tap_tab, stdout);
			return 1;
		default:
			opttab_usage(&tap_tab, stderr);
			return 2;
		}
	}
	if (!o->agent || !o->pod_ip || !o->container_id || !o->nports) {
		log_error("tap: --agent, --pod-ip, --container-id and at least one -p are needed");
		return 2;
	}
	return 0;
}

static void pcap_header(FILE *f)
{
	const uint32_t hdr[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 101 /* LINKTYPE_RAW */};

	fwrite(hdr, sizeof(hdr), 1, f);
}

static void pcap_packet(FILE *f, const uint8_t *data, size_t len)
{
	struct timespec ts;
	uint32_t rec[4];

	clock_gettime(CLOCK_REALTIME, &ts);
	rec[0] = (uint32_t)ts.tv_sec;
	rec[1] = (uint32_t)(ts.tv_nsec / 1000);
	rec[2] = (uint32_t)len;
	rec[3] = (uint32_t)len;
	fwrite(rec, sizeof(rec), 1, f);
	fwrite(data, len, 1, f);
}

/* Counts TCP flags and HTTP request starts of one IPv4 packet. */
static void count_packet(struct tap_counts *n, const uint8_t *p, size_t len)
{
	size_t ihl, thl;

	n->packets++;
	n->bytes += len;
	if (len < 20 || (p[0] >> 4) != 4 || p[9] != 6)
		return;
	ihl = (size_t)(p[0] & 15) * 4;
	if (len < ihl + 20)
		return;
	thl = (size_t)(p[ihl + 12] >> 4) * 4;
	n->syn += (p[ihl + 13] & 0x02) != 0;
	n->fin += (p[ihl + 13] & 0x01) != 0;
	n->rst += (p[ihl + 13] & 0x04) != 0;
	if (len >= ihl + thl + 4) {
		const uint8_t *d = p + ihl + thl;
		if (!memcmp(d, "GET ", 4) || !memcmp(d, "POST", 4) || !memcmp(d, "PUT ", 4) ||
		    !memcmp(d, "HEAD", 4) || !memcmp(d, "DELE", 4))
			n->requests++;
	}
}

static int attach(struct bm_client *c, const struct tap_opts *o)
{
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT, *r = NULL;
	Bpfmirror__AttachRequest a = BPFMIRROR__ATTACH_REQUEST__INIT;
	Bpfmirror__Target t = BPFMIRROR__TARGET__INIT;
	char *ips[1] = {(char *)o->pod_ip}, text[512];
	int err;

	t.namespace_ = (char *)(o->ns ? o->ns : "default");
	t.pod_name = (char *)(o->pod ? o->pod : "");
	t.pod_uid = (char *)(o->pod_uid ? o->pod_uid : "");
	t.pod_ips = ips;
	t.n_pod_ips = 1;
	t.container_id = (char *)o->container_id;
	a.target = &t;
	a.ports = (uint32_t *)o->ports;
	a.n_ports = o->nports;
	a.mode = BPFMIRROR__MODE__MODE_MIRROR;
	f.body_case = BPFMIRROR__FRAME__BODY_ATTACH_REQUEST;
	f.attach_request = &a;
	err = client_request(c, &f, 10000, &r);
	if (err) {
		log_error("tap: attach failed: %s", frame_strerror(err));
		return err;
	}
	if (r->body_case != BPFMIRROR__FRAME__BODY_ATTACH_REPLY) {
		log_error("tap: attach refused: %s", client_error_text(r, text, sizeof(text)));
		wire_frame_free(r);
		return -EACCES;
	}
	log_info("tap: session %s on node %s mirrors %s (%zu port(s))", r->attach_reply->session_id,
		 client_node_name(c), o->pod_ip, o->nports);
	wire_frame_free(r);
	return 0;
}

int cmd_tap(int argc, char **argv)
{
	struct tap_opts o = {0};
	struct tap_counts n = {0};
	struct bm_client *c = NULL;
	struct sigaction sa = {.sa_handler = on_sig};
	char err[512];
	time_t start = time(NULL), last_hb = start;
	FILE *pcap = NULL;
	int rc = parse_tap(argc, argv, &o);

	if (rc)
		return rc == 1 ? 0 : rc;
	if (o.pcap) {
		pcap = strcmp(o.pcap, "-") ? fopen(o.pcap, "we") : stdout;
		if (!pcap) {
			log_error("tap: cannot write %s: %s", o.pcap, strerror(errno));
			return 1;
		}
		pcap_header(pcap);
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	c = client_connect(o.agent, "bpfmirror-tap", 5000, err, sizeof(err));
	if (!c) {
		log_error("tap: %s", err);
		rc = 1;
		goto out;
	}
	if (attach(c, &o)) {
		rc = 1;
		goto out;
	}
	printf("ready\n");
	fflush(stdout);
	while (!tap_stop) {
		Bpfmirror__Frame *f = NULL;
		int r = client_next(c, 200, &f);
		if (r < 0) {
			log_error("tap: connection to the agent lost: %s", frame_strerror(r));
			rc = 1;
			break;
		}
		if (time(NULL) != last_hb) {
			last_hb = time(NULL);
			client_heartbeat(c);
		}
		if (o.seconds > 0 && difftime(time(NULL), start) >= o.seconds)
			break;
		if (r == 0)
			continue;
		if (f->body_case == BPFMIRROR__FRAME__BODY_PACKET_BATCH) {
			const Bpfmirror__PacketBatch *b = f->packet_batch;
			for (size_t i = 0; i < b->n_packets; i++) {
				count_packet(&n, b->packets[i]->data.data, b->packets[i]->data.len);
				if (pcap)
					pcap_packet(pcap, b->packets[i]->data.data,
						    b->packets[i]->data.len);
			}
		} else if (f->body_case == BPFMIRROR__FRAME__BODY_ERROR) {
			log_error("tap: agent: %s", client_error_text(f, err, sizeof(err)));
			if (f->error->fatal)
				tap_stop = 1;
		}
		wire_frame_free(f);
		if ((o.max_packets && (long)n.packets >= o.max_packets) ||
		    (o.max_requests && (long)n.requests >= o.max_requests))
			break;
	}
	fprintf(pcap == stdout ? stderr : stdout,
		"{\"packets\":%llu,\"bytes\":%llu,\"syn\":%llu,\"fin\":%llu,\"rst\":%llu,"
		"\"http_requests\":%llu}\n",
		n.packets, n.bytes, n.syn, n.fin, n.rst, n.requests);
out:
	if (pcap && pcap != stdout)
		fclose(pcap);
	client_close(c);
	return rc;
}
