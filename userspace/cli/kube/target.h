/* Resolves a TARGET (deployment/x, pod/y, ...) to its ready pods, containers, nodes and agents. */
#ifndef BPFMIRROR_TARGET_H
#define BPFMIRROR_TARGET_H

#include "kube.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TARGET_AGENT_NAMESPACE	       "bpfmirror"
#define TARGET_AGENT_LABEL	       "app.kubernetes.io/name=bpfmirror-agent"
#define TARGET_AGENT_PORT	       47100
#define TARGET_AGENT_PORT_ANNOT	       "bpfmirror.dev/control-port"
#define TARGET_DEFAULT_CONTAINER_ANNOT "kubectl.kubernetes.io/default-container"

/* Kubernetes object names are at most 253 bytes (DNS subdomain). */
#define TARGET_NAME_MAX 254
#define TARGET_IP_MAX	46 /* INET6_ADDRSTRLEN */

enum target_kind {
	TARGET_POD = 0,
	TARGET_DEPLOYMENT,
	TARGET_STATEFULSET,
	TARGET_REPLICASET,
};

/* What the user typed, parsed. A bare NAME means pod/NAME. */
struct target_spec {
	enum target_kind kind;
	bool kind_given;
	char name[TARGET_NAME_MAX];
	char container[TARGET_NAME_MAX]; /* "" = the pod's default container */
};

struct target_port {
	uint16_t port;
	char protocol[8]; /* TCP, UDP, SCTP */
	char name[64];	  /* IANA_SVC_NAME: at most 15, "" when unnamed */
};

/* The node agent serving one pod: where to connect to it. */
struct target_agent {
	char pod[TARGET_NAME_MAX];
	char namespace[TARGET_NAME_MAX];
	char address[TARGET_IP_MAX]; /* its podIP: the node's IP (hostNetwork) */
	uint16_t port;
};

struct target_pod {
	char name[TARGET_NAME_MAX];
	char uid[64];
	char node[TARGET_NAME_MAX];
	char host_ip[TARGET_IP_MAX];
	char pod_ips[2][TARGET_IP_MAX]; /* IPv4 and/or IPv6; [0] is status.podIP */
	size_t n_pod_ips;
	char container[TARGET_NAME_MAX];
	char container_id[128]; /* without the runtime prefix */
	char runtime[32];	/* "containerd", "cri-o", "docker", ... */
	struct target_port *ports;
	size_t n_ports;
	bool has_agent;
	struct target_agent agent;
	json_object *object; /* the Pod as the API returned it (a reference) */
};

struct target {
	enum target_kind kind;
	char name[TARGET_NAME_MAX];
	char namespace[TARGET_NAME_MAX];
	struct target_pod *pods; /* ready pods, sorted by name */
	size_t n_pods;
};

/* "pod", "deployment", ... */
const char *target_kind_name(enum target_kind kind);

/*
 * Parses KIND/NAME[/container/CONTAINER] or NAME. Kinds: pod (po), deployment
 * (deploy), statefulset (sts), replicaset (rs), also plural and kind.group
 * (deployment.apps). Returns 0 or -EINVAL with ERR filled.
 */
int target_parse(const char *s, struct target_spec *spec, struct kube_err *err);

/*
 * The label selector of a workload's spec.selector (matchLabels and
 * matchExpressions) in the API's query syntax. 0, -EINVAL (none: ERR says so)
 * or -ENOSPC.
 */
int target_selector(json_object *workload, char *buf, size_t len, struct kube_err *err);

/*
 * The pure part of resolution, on parsed API objects. For a pod target
 * WORKLOAD is the pod and the lists are NULL; for a workload, POD_LIST holds
 * the namespace's pods matching its selector and, for a deployment, RS_LIST
 * its ReplicaSets. Keeps the Running + Ready pods the workload owns and fills
 * OUT (caller frees with target_clear()). -ENOENT when no pod is ready,
 * -ENOENT for an unknown container; ERR says why (pod counts and phases).
 */
int target_pick_pods(const struct target_spec *spec, const char *ns, json_object *workload,
		     json_object *rs_list, json_object *pod_list, struct target *out,
		     struct kube_err *err);

/*
 * Picks the agent for POD from AGENT_LIST (agent pods of AGENT_NS, normally
 * already filtered to the pod's node). -ENOENT with a hint when none runs.
 */
int target_set_agent(struct target_pod *pod, json_object *agent_list, const char *agent_ns,
		     struct kube_err *err);

/*
 * Finds the name in LIST's items closest to NAME: 0 with it in BUF for a small
 * edit distance, 1 for a name that starts with NAME (pods of a workload),
 * -ENOENT when nothing is close.
 */
int target_suggest(const char *name, json_object *list, char *buf, size_t len);

/* Edit distance (Levenshtein) between two strings of at most 253 bytes. */
size_t target_edit_distance(const char *a, const char *b);

/*
 * The whole resolution through the API: the workload, its pods, each pod's
 * node agent. NS is the namespace; AGENT_NS NULL means
 * $BPFMIRROR_AGENT_NAMESPACE, else "bpfmirror".
 */
int target_resolve(struct kube_client *c, const struct target_spec *spec, const char *ns,
		   const char *agent_ns, struct target *out, struct kube_err *err);

/* The same without the agents (the caller names its agent, --agent). */
int target_resolve_pods(struct kube_client *c, const struct target_spec *spec, const char *ns,
			struct target *out, struct kube_err *err);

/* The resolved target as JSON (for `bpfmirror resolve` and the session). */
json_object *target_to_json(const struct target *t);

void target_clear(struct target *t);

#endif
