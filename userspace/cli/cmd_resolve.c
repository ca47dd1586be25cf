/* bpfmirror resolve TARGET: prints what a target resolves to (pods, containers, agents) as JSON. */
#include "commands.h"
#include "kube.h"
#include "target.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static void resolve_usage(FILE *f)
{
	fprintf(f, "usage: bpfmirror resolve TARGET [-n NAMESPACE] [--kubeconfig FILE] "
		   "[--context NAME]\n"
		   "                         [--agent-namespace NS]\n"
		   "TARGET: deployment/NAME, statefulset/NAME, replicaset/NAME or pod/NAME\n"
		   "(a bare NAME is a pod), optionally followed by /container/NAME.\n"
		   "Prints the ready pods, their container, ports, node and node agent as JSON.\n");
}

static const struct option resolve_opts[] = {
    {"namespace", required_argument, NULL, 'n'},
    {"kubeconfig", required_argument, NULL, 'k'},
    {"context", required_argument, NULL, 'c'},
    {"agent-namespace", required_argument, NULL, 'a'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int cmd_resolve(int argc, char **argv)
{
	struct kube_flags kf = {0};
	const char *agent_ns = NULL;
	struct target_spec spec;
	struct target t = {0};
	struct kube_client *c = NULL;
	struct kube_err err = {0};
	json_object *out = NULL;
	char *ns = NULL;
	int opt, ret = 1;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "n:h", resolve_opts, NULL)) != -1) {
		if (kube_flags_take(&kf, opt, optarg))
			continue;
		switch (opt) {
		case 'a':
			agent_ns = optarg;
			break;
		case 'h':
			resolve_usage(stdout);
			return 0;
		default:
			resolve_usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		resolve_usage(stderr);
		return 2;
	}
	if (target_parse(argv[optind], &spec, &err)) {
		kube_err_log(&err, "bad target");
		return 2;
	}
	if (kube_open(kf.kubeconfig, kf.context, kf.ns, &c, &ns, &err)) {
		kube_err_log(&err, "cannot connect to the cluster");
		goto out;
	}
	if (target_resolve(c, &spec, ns, agent_ns, &t, &err)) {
		kube_err_log(&err, "cannot resolve the target");
		goto out;
	}
	out = target_to_json(&t);
	printf("%s\n", json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
	ret = 0;
out:
	json_object_put(out);
	target_clear(&t);
	kube_client_free(c);
	free(ns);
	return ret;
}
