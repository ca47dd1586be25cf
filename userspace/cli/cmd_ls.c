/* bpfmirror ls: the targets of a namespace that can be attached to, as a table or JSON. */
#include "commands.h"
#include "kube.h"
#include "log.h"
#include "opttab.h"
#include "target.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_object *ports_json(json_object *podspec)
{
	json_object *arr = json_object_new_array();
	size_t nc = kj_len(podspec, "containers");

	for (size_t i = 0; i < nc; i++) {
		json_object *c = kj_idx(podspec, "containers", i);
		size_t np = kj_len(c, "ports");

		for (size_t j = 0; j < np; j++) {
			json_object *p = kj_idx(c, "ports", j), *o = json_object_new_object();

			json_object_object_add(o, "container",
					       json_object_new_string(kj_str(c, "name") ?: ""));
			json_object_object_add(o, "name",
					       json_object_new_string(kj_str(p, "name") ?: ""));
			json_object_object_add(
			    o, "port", json_object_new_int((int)kj_int(p, "containerPort", 0)));
			json_object_object_add(
			    o, "protocol", json_object_new_string(kj_str(p, "protocol") ?: "TCP"));
			json_object_array_add(arr, o);
		}
	}
	return arr;
}

static void add_row(json_object *rows, const char *kind, json_object *obj, json_object *podspec,
		    long long ready, long long want, const char *node)
{
	json_object *r = json_object_new_object();
	const char *name = kj_str(obj, "metadata.name") ?: "?";
	char ref[2 * TARGET_NAME_MAX];

	snprintf(ref, sizeof(ref), "%s/%s", kind, name);
	json_object_object_add(r, "target", json_object_new_string(ref));
	json_object_object_add(r, "kind", json_object_new_string(kind));
	json_object_object_add(r, "name", json_object_new_string(name));
	json_object_object_add(r, "ready", json_object_new_int64(ready));
	json_object_object_add(r, "desired", json_object_new_int64(want));
	json_object_object_add(r, "ports", ports_json(podspec));
	if (node)
		json_object_object_add(r, "node", json_object_new_string(node));
	json_object_array_add(rows, r);
}

static void add_workloads(json_object *rows, const char *kind, json_object *list)
{
	size_t n = kj_len(list, "items");

	for (size_t i = 0; i < n; i++) {
		json_object *w = kj_idx(list, "items", i);

		/* ReplicaSets of a Deployment are reached through it. */
		if (strcmp(kind, "replicaset") == 0 && kj_len(w, "metadata.ownerReferences"))
			continue;
		add_row(rows, kind, w, kj_get(w, "spec.template.spec"),
			kj_int(w, "status.readyReplicas", 0), kj_int(w, "spec.replicas", 1), NULL);
	}
}

static void add_pods(json_object *rows, json_object *list)
{
	size_t n = kj_len(list, "items");

	for (size_t i = 0; i < n; i++) {
		json_object *p = kj_idx(list, "items", i);
		const char *phase = kj_str(p, "status.phase");
		size_t ns = kj_len(p, "status.containerStatuses");
		long long ready = 0;

		if (!phase || strcmp(phase, "Running") != 0)
			continue;
		for (size_t j = 0; j < ns; j++) {
			json_object *r = kj_get(kj_idx(p, "status.containerStatuses", j), "ready");

			ready += r && json_object_get_boolean(r);
		}
		add_row(rows, "pod", p, kj_get(p, "spec"), ready,
			(long long)kj_len(p, "spec.containers"), kj_str(p, "spec.nodeName"));
	}
}

/* "http:8080/TCP,9090/UDP" from a row's ports; "..." when it does not fit. */
static void ports_text(json_object *ports, char *buf, size_t len)
{
	size_t off = 0, n = json_object_array_length(ports);

	buf[0] = '\0';
	for (size_t j = 0; j < n; j++) {
		json_object *p = json_object_array_get_idx(ports, j);
		const char *name = kj_str(p, "name");
		bool named = name && name[0];
		int w = snprintf(buf + off, len - off, "%s%s%s%lld/%s", off ? "," : "",
				 named ? name : "", named ? ":" : "", kj_int(p, "port", 0),
				 kj_str(p, "protocol") ?: "TCP");

		if (w < 0 || (size_t)w >= len - off) {
			snprintf(buf + (off + 4 < len ? off : len - 4), 4, "...");
			return;
		}
		off += (size_t)w;
	}
}

static void print_table(json_object *rows, const char *ns)
{
	size_t n = json_object_array_length(rows);
	int w_target = 6, w_ready = 5;
	char ready[48], ports[512];

	if (!n) {
		printf("no attachable targets in namespace %s\n", ns);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *r = json_object_array_get_idx(rows, i);
		int l = (int)strlen(kj_str(r, "target"));

		if (l > w_target)
			w_target = l;
	}
	printf("%-*s  %-*s  %s\n", w_target, "TARGET", w_ready, "READY", "PORTS");
	for (size_t i = 0; i < n; i++) {
		json_object *r = json_object_array_get_idx(rows, i);

		snprintf(ready, sizeof(ready), "%lld/%lld", kj_int(r, "ready", 0),
			 kj_int(r, "desired", 0));
		ports_text(kj_get(r, "ports"), ports, sizeof(ports));
		printf("%-*s  %-*s  %s\n", w_target, kj_str(r, "target"), w_ready, ready,
		       ports[0] ? ports : "-");
	}
}

static const struct opttab_opt ls_opts[] = {
    KUBE_FLAGS_OPTS,
    {"output", 'o', OPTTAB_SHORT, "FORMAT", "table (default) or json"},
    {"help", 'h', OPTTAB_SHORT, NULL, "show this help"},
    {0},
};

static struct opttab ls_tab = {
    .opts = ls_opts,
    .usage = "bpfmirror ls [-n NAMESPACE] [--kubeconfig FILE] [--context NAME] [-o json]",
    .about = "Lists deployments, statefulsets, standalone replicasets and running pods\n"
	     "with their ready counts and declared ports.\n",
};

/* The kinds listed, in output order. */
static const struct {
	const char *kind, *group_version, *resource;
} ls_kinds[] = {
    {"deployment", "apps/v1", "deployments"},
    {"statefulset", "apps/v1", "statefulsets"},
    {"replicaset", "apps/v1", "replicasets"},
    {"pod", "v1", "pods"},
};

int cmd_ls(int argc, char **argv)
{
	struct kube_flags kf = {0};
	struct kube_client *c = NULL;
	struct kube_err err = {0};
	json_object *rows = NULL;
	bool json = false;
	char *ns = NULL;
	const char *arg;
	int opt, ret = 1;

	if (opttab_init(&ls_tab))
		return 2;
	while ((opt = opttab_next(&ls_tab, argc, argv, &arg)) != -1) {
		if (kube_flags_take(&kf, opt, arg))
			continue;
		switch (opt) {
		case 'o':
			if (strcmp(arg, "json") != 0 && strcmp(arg, "table") != 0) {
				log_error("ls: unknown output format '%s' (json or table)", arg);
				return 2;
			}
			json = strcmp(arg, "json") == 0;
			break;
		case 'h':
			opttab_usage(&ls_tab, stdout);
			return 0;
		default:
			opttab_usage(&ls_tab, stderr);
			return 2;
		}
	}
	if (optind < argc) {
		opttab_usage(&ls_tab, stderr);
		return 2;
	}
	if (kube_open(kf.kubeconfig, kf.context, kf.ns, &c, &ns, &err)) {
		kube_err_log(&err, "cannot connect to the cluster");
		goto out;
	}
	rows = json_object_new_array();
	for (size_t i = 0; i < sizeof(ls_kinds) / sizeof(ls_kinds[0]); i++) {
		json_object *list = NULL;

		if (kube_list(c, ls_kinds[i].group_version, ns, ls_kinds[i].resource, NULL, NULL,
			      &list, &err)) {
			kube_err_log(&err, "cannot list the namespace");
			goto out;
		}
		if (strcmp(ls_kinds[i].kind, "pod") == 0)
			add_pods(rows, list);
		else
			add_workloads(rows, ls_kinds[i].kind, list);
		json_object_put(list);
	}
	if (json)
		printf("%s\n", json_object_to_json_string_ext(
				   rows, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		print_table(rows, ns);
	ret = 0;
out:
	json_object_put(rows);
	kube_client_free(c);
	free(ns);
	return ret;
}
