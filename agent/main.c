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

int main(int argc, char **argv)
{
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
	struct agent_opts o = {.metrics = AGENT_DEFAULT_METRICS};
	struct sigaction sa = {.sa_handler = on_signal};
	enum log_level lvl;
	int c, rc;

	log_set_ident("bpfmirror-agent");
	while ((c = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
		switch (c) {
		case 'l':
			o.listen = optarg;
			break;
		case 'm':
			o.metrics = optarg;
			break;
		case 'p':
			o.policy_path = optarg;
			break;
		case 'n':
			o.node_name = optarg;
			break;
		case 'P':
			o.proc_root = optarg;
			break;
		case 'H':
			o.heartbeat_ms = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'L':
			if (log_parse_level(optarg, &lvl)) {
				fprintf(stderr, "bpfmirror-agent: bad --log-level '%s'\n", optarg);
				return 2;
			}
			log_set_level(lvl);
			break;
		case 'v':
			log_set_level(LOG_LVL_DEBUG);
			break;
		case 'F':
			if (strcmp(optarg, "json") == 0) {
				log_set_format(LOG_FMT_JSON);
			} else if (strcmp(optarg, "text") != 0) {
				fprintf(stderr, "bpfmirror-agent: bad --log-format '%s'\n", optarg);
				return 2;
			}
			break;
		case 'c':
			o.force_clsact = true;
			break;
		case 'D':
			o.no_datapath = true;
			break;
		case 'C': {
			/* Validates a policy file (e.g. rendered by the chart) and exits. */
			char err[512];
			struct policy *p = policy_load(optarg, err, sizeof(err));
			if (!p) {
				fprintf(stderr, "bpfmirror-agent: %s\n", err);
				return 1;
			}
			policy_free(p);
			printf("%s: ok\n", optarg);
			return 0;
		}
		case 'G':
			o.pod_logs = optarg;
			break;
		case 'R':
			o.ring_mib = (unsigned)strtoul(optarg, NULL, 10);
			if (!o.ring_mib || o.ring_mib > 1024 || (o.ring_mib & (o.ring_mib - 1))) {
				fprintf(stderr,
					"bpfmirror-agent: --ring-mib must be a power of two "
					"from 1 to 1024\n");
				return 2;
			}
			break;
		case 'V':
			printf("bpfmirror-agent %s (protocol %u)\n", BPFMIRROR_VERSION,
			       BPFMIRROR_PROTOCOL_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bpfmirror-agent: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	log_capture_libbpf();
	signal(SIGPIPE, SIG_IGN);
	the_agent = agent_new(&o);
	if (!the_agent)
		return 1;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	rc = agent_run(the_agent);
	agent_free(the_agent);
	log_info("stopped");
	return rc ? 1 : 0;
}
