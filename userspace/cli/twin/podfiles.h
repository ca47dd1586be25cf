/* Which container files the twin shows, and staging them from the agent into a local tree. */
#ifndef BPFMIRROR_PODFILES_H
#define BPFMIRROR_PODFILES_H

#include "client.h"

#include <json-c/json.h>
#include <stddef.h>

/* A set of paths; v is NULL-terminated once anything was added. */
struct path_list {
	char **v;
	size_t n;
};

void path_list_free(struct path_list *l);
int path_list_add(struct path_list *l, const char *path);

/*
 * Adds the mountPath of every volumeMount of CONTAINER (in the Pod object POD)
 * whose volume is a configMap, secret, projected or downwardAPI volume: what a
 * container typically reads at start.
 */
int podfiles_default_paths(json_object *pod, const char *container, struct path_list *out);

struct stage_stats {
	size_t files;
	size_t dirs;
	size_t bytes;
	size_t denied;	/* refused by the cluster's policy */
	size_t missing; /* not in the container */
};

/*
 * Copies each path (file or directory tree) of the container, through the
 * agent session C, into DIR/<path>. Bounded: at most 4096 files and 64 MiB.
 * Paths the policy denies or the container lacks are counted and logged, not
 * fatal. Returns 0 or -errno (connection errors).
 */
int podfiles_stage(struct bm_client *c, const struct path_list *paths, const char *dir,
		   struct stage_stats *st);

#endif
