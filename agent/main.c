/* bpfmirror-agent: the node daemon; parses flags and runs the agent loop. */
#include "agent.h"
#include "policy.h"
#include "log.h"
#include "opttab.h"
#include "protocol.h"

#include <errno.h>
#include <malloc.h>
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

static int set_max_sessions(struct agent_opts *o, const char *arg)
{
	char *end;
	unsigned long n = strtoul(arg, &end, 10);

	if (*end || n < 1 || n > AGENT_MAX_SESSIONS_LIMIT) {
		fprintf(stderr, "bpfmirror-agent: --max-sessions must be from 1 to %u\n",
			AGENT_MAX_SESSIONS_LIMIT);
		return 2;
	}
	o->max_sessions = (unsigned)n;
	return -1;
}

static const struct opttab_opt agent_opts_table[] = {
    {"listen", 'l', 0, "IP:PORT",
     "control channel (default " AGENT_DEFAULT_LISTEN "; keep it on loopback\n"
     "and reach it through kubectl port-forward)"},
    {"metrics", 'm', 0, "IP:PORT",
     "Prometheus /metrics, /healthz, /readyz (default " AGENT_DEFAULT_METRICS ";\n"
     "'' disables)"},
    {"policy", 'p', 0, "FILE", "policy file (docs/policy.md); default: allow all"},
    {"node-name", 'n', 0, "NAME", "node name reported to clients (default: hostname)"},
    {"proc", 'P', 0, "DIR", "the host's /proc (default /proc)"},
    {"heartbeat-ms", 'H', 0, "N", "client heartbeat interval; 3 missed end a session"},
    {"log-level", 'L', 0, "LEVEL", "error|warn|info|debug (default info)"},
    {NULL, 'v', OPTTAB_SHORT, NULL, "the same as --log-level debug"},
    {"log-format", 'F', 0, "FORMAT", "text|json (default text)"},
    {"force-clsact", 'c', 0, NULL, "attach with clsact instead of tcx links"},
    {"ring-mib", 'R', 0, "N", "BPF ring buffer for copies, MiB (default 2)"},
    {"max-sessions", 'S', 0, "N", "client sessions at once (default 32, at most 256)"},
    {"check-policy", 'C', 0, "FILE", "validate a policy file and exit"},
    {"pod-logs", 'G', 0, "DIR",
     "kubelet's pod log dirs, to verify a pod's namespace\n"
     "(default /var/log/pods; skipped where it is missing)"},
    {"no-datapath", 'D', 0, NULL, "run without BPF (protocol tests only)"},
    {"version", 'V', 0, NULL, "print the version and exit"},
    {"help", 'h', 0, NULL, "print this help and exit"},
    {0},
};

static struct opttab agent_opttab = {
    .opts = agent_opts_table,
    .usage = "bpfmirror-agent [options]",
};

/* Parses the command line into O; returns -1 to run the agent, or the exit status. */
static int parse_args(int argc, char **argv, struct agent_opts *o)
{
	const char *arg;
	int c, rc = -1;

	if (opttab_init(&agent_opttab))
		return 2;
	while (rc < 0 && (c = opttab_next(&agent_opttab, argc, argv, &arg)) != -1) {
		switch (c) {
		case 'l':
			o->listen = arg;
			break;
		case 'm':
			o->metrics = arg;
			break;
		case 'p':
			o->policy_path = arg;
			break;
		case 'n':
			o->node_name = arg;
			break;
		case 'P':
			o->proc_root = arg;
			break;
		case 'H':
			o->heartbeat_ms = (unsigned)strtoul(arg, NULL, 10);
			break;
		case 'L':
			rc = set_log_level(arg);
			break;
		case 'v':
			log_set_level(LOG_LVL_DEBUG);
			break;
		case 'F':
			rc = set_log_format(arg);
			break;
		case 'c':
			o->force_clsact = true;
			break;
		case 'D':
			o->no_datapath = true;
			break;
		case 'C':
			rc = check_policy(arg);
			break;
		case 'G':
			o->pod_logs = arg;
			break;
		case 'R':
			rc = set_ring_mib(o, arg);
			break;
		case 'S':
			rc = set_max_sessions(o, arg);
			break;
		case 'V':
			printf("bpfmirror-agent %s (protocol %u)\n", BPFMIRROR_VERSION,
			       BPFMIRROR_PROTOCOL_VERSION);
			rc = 0;
			break;
		case 'h':
			opttab_usage(&agent_opttab, stdout);
			rc = 0;
			break;
		default:
			opttab_usage(&agent_opttab, stderr);
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
	/*
	 * Frame buffers come and go in MiB sizes. A fixed mmap threshold keeps
	 * each of them a mapping of its own that free() returns to the kernel;
	 * glibc's sliding threshold would move them to the heap, where freed
	 * memory stays resident and counts against the pod's limit.
	 */
	mallopt(M_MMAP_THRESHOLD, 128 << 10);
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
