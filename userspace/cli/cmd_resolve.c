/* bpfmirror resolve TARGET: prints what a target resolves to (pods, containers, agents) as JSON. */
#include "commands.h"
#include "kube.h"
#include "opttab.h"
#include "target.h"

#include <stdio.h>
#include <stdlib.h>

static const struct opttab_opt resolve_opts[] = {
    KUBE_FLAGS_OPTS,
    {"agent-namespace", 'a', 0, "NS",
     "node agents' namespace (default:\n$BPFMIRROR_AGENT_NAMESPACE, else bpfmirror)"},
    {"help", 'h', OPTTAB_SHORT, NULL, "show this help"},
    {0},
};

static struct opttab resolve_tab = {
    .opts = resolve_opts,
    .usage = "bpfmirror resolve TARGET [-n NAMESPACE] [--kubeconfig FILE] [--context NAME]\n"
	     "                         [--agent-namespace NS]",
    .about = "TARGET: deployment/NAME, statefulset/NAME, replicaset/NAME or pod/NAME\n"
	     "(a bare NAME is a pod), optionally followed by /container/NAME.\n"
	     "Prints the ready pods, their container, ports, node and node agent as JSON.\n",
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
	const char *arg;
	int opt, ret = 1;

	if (opttab_init(&resolve_tab))
		return 2;
	while ((opt = opttab_next(&resolve_tab, argc, argv, &arg)) != -1) {
		if (kube_flags_take(&kf, opt, arg))
			continue;
		switch (opt) {
		case 'a':
			agent_ns = arg;
			break;
		case 'h':
			opttab_usage(&resolve_tab, stdout);
			return 0;
		default:
			opttab_usage(&resolve_tab, stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		opttab_usage(&resolve_tab, stderr);
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
