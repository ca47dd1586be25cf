/* bpfmirror-agent: the node daemon; parses flags and runs the agent loop. */
#include "agent.h"
#include "policy.h"
#include "log.h"
#include "protocol.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct agent *the_agent;

static void on_signal(int sig)
{
	(void)sig;
	if (the_agent)
		agent_stop(the_agent);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bpfmirror-agent [options]\n"
		"  --listen IP:PORT      control channel (default %s; keep it on loopback\n"
		"                        and reach it through kubectl port-forward)\n"
		"  --metrics IP:PORT     Prometheus /metrics, /healthz, /readyz (default %s;\n"
		"                        '' disables)\n"
		"  --policy FILE         policy file (docs/policy.md); default: allow all\n"
		"  --node-name NAME      node name reported to clients (default: hostname)\n"
		"  --proc DIR            the host's /proc (default /proc)\n"
		"  --heartbeat-ms N      client heartbeat interval; 3 missed end a session\n"
		"  --log-level LEVEL     error|warn|info|debug (default info)\n"
		"  --log-format FORMAT   text|json (default text)\n"
		"  --force-clsact        attach with clsact instead of tcx links\n"
		"  --ring-mib N          BPF ring buffer for copies, MiB (default 2)\n"
		"  --check-policy FILE   validate a policy file and exit\n"
		"  --pod-logs DIR        kubelet's pod log dirs, to verify a pod's namespace\n"
		"                        (default /var/log/pods; skipped where it is missing)\n"
		"  --no-datapath         run without BPF (protocol tests only)\n"
		"  --version, --help\n",
		AGENT_DEFAULT_LISTEN, AGENT_DEFAULT_METRICS);
}

/* Validates a policy file (e.g. rendered by the chart); returns the exit status. */
static int check_policy(const char *path)
{
	char err[512];
	struct policy *p = policy_load(path, err, sizeof(err));

	if (!p) {
		fprintf(stderr, "bpfmirror-agent: %s\n", err);
		return 1;
	}
	policy_free(p);
	printf("%s: ok\n", path);
	return 0;
}

/* The option handlers below return -1 to go on parsing, or the exit status. */
static int set_log_level(const char *arg)
{
	enum log_level lvl;

	if (log_parse_level(arg, &lvl)) {
		fprintf(stderr, "bpfmirror-agent: bad --log-level '%s'\n", arg);
		return 2;
	}
	log_set_level(lvl);
	return -1;
}

static int set_log_format(const char *arg)
{
	if (strcmp(arg, "json") == 0) {
		log_set_format(LOG_FMT_JSON);
	} else if (strcmp(arg, "text") != 0) {
		fprintf(stderr, "bpfmirror-agent: bad --log-format '%s'\n", arg);
		return 2;
	}
	return -1;
}

static int set_ring_mib(struct agent_opts *o, const char *arg)
{
	o->ring_mib = (unsigned)strtoul(arg, NULL, 10);
	if (!o->ring_mib || o->ring_mib > 1024 || (o->ring_mib & (o->ring_mib - 1))) {
		fprintf(stderr, "bpfmirror-agent: --ring-mib must be a power of two "
				"from 1 to 1024\n");
		return 2;
	}
	return -1;
}

static const struct option longopts[] = {
    {"listen", required_argument, NULL, 'l'},
    {"metrics", required_argument, NULL, 'm'},
    {"policy", required_argument, NULL, 'p'},
    {"node-name", required_argument, NULL, 'n'},
    {"proc", required_argument, NULL, 'P'},
    {"heartbeat-ms", required_argument, NULL, 'H'},
    {"log-level", required_argument, NULL, 'L'},
    {"log-format", required_argument, NULL, 'F'},
    {"force-clsact", no_argument, NULL, 'c'},
    {"no-datapath", no_argument, NULL, 'D'},
    {"ring-mib", required_argument, NULL, 'R'},
    {"check-policy", required_argument, NULL, 'C'},
    {"pod-logs", required_argument, NULL, 'G'},
    {"version", no_argument, NULL, 'V'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Parses the command line into O; returns -1 to run the agent, or the exit status. */
static int parse_args(int argc, char **argv, struct agent_opts *o)
{
	int c, rc = -1;

	while (rc < 0 && (c = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
		switch (c) {
		case 'l':
			o->listen = optarg;
			break;
		case 'm':
			o->metrics = optarg;
			break;
		case 'p':
			o->policy_path = optarg;
			break;
		case 'n':
			o->node_name = optarg;
			break;
		case 'P':
			o->proc_root = optarg;
			break;
		case 'H':
			o->heartbeat_ms = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'L':
			rc = set_log_level(optarg);
			break;
		case 'v':
			log_set_level(LOG_LVL_DEBUG);
			break;
		case 'F':
			rc = set_log_format(optarg);
			break;
		case 'c':
			o->force_clsact = true;
			break;
		case 'D':
			o->no_datapath = true;
			break;
		case 'C':
			rc = check_policy(optarg);
			break;
		case 'G':
			o->pod_logs = optarg;
			break;
		case 'R':
			rc = set_ring_mib(o, optarg);
			break;
		case 'V':
			printf("bpfmirror-agent %s (protocol %u)\n", BPFMIRROR_VERSION,
			       BPFMIRROR_PROTOCOL_VERSION);
			rc = 0;
			break;
		case 'h':
			usage(stdout);
			rc = 0;
			break;
		default:
			usage(stderr);
			rc = 2;
		}
	}
	if (rc < 0 && optind < argc) {
		fprintf(stderr, "bpfmirror-agent: unexpected argument '%s'\n", argv[optind]);
		rc = 2;
	}
	return rc;
}

/* Runs the agent until SIGINT/SIGTERM; returns the exit status. */
static int run_agent(const struct agent_opts *o)
{
	struct sigaction sa = {.sa_handler = on_signal};
	int rc;

	log_capture_libbpf();
	signal(SIGPIPE, SIG_IGN);
	the_agent = agent_new(o);
	if (!the_agent)
		return 1;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	rc = agent_run(the_agent);
	agent_free(the_agent);
	log_info("stopped");
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct agent_opts o = {.metrics = AGENT_DEFAULT_METRICS};
	int rc;

	log_set_ident("bpfmirror-agent");
	rc = parse_args(argc, argv, &o);
	return rc >= 0 ? rc : run_agent(&o);
}
