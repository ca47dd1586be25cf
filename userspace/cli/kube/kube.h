/* A small read-only Kubernetes API client: HTTPS GET of JSON with kubeconfig credentials. */
#ifndef BPFMIRROR_KUBE_H
#define BPFMIRROR_KUBE_H

#include "kubeconfig.h"
#include "opttab.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

struct kube_client;

/* Largest response body accepted (a list of every pod of a big namespace fits). */
#define KUBE_MAX_BODY (64u << 20)

/*
 * Builds a client for KC's cluster and user. Credentials are fetched now:
 * a static token or tokenFile wins (as in client-go), otherwise an `exec`
 * plugin is run once. KC may be freed afterwards.
 * Returns NULL with errno and a sentence in ERR.
 */
struct kube_client *kube_client_new(const struct kubeconfig *kc, struct kube_err *err);
void kube_client_free(struct kube_client *c);

/*
 * What every command taking a target does: locate and load the kubeconfig
 * (KUBECONFIG_PATH and CONTEXT may be NULL), build the client, and set *NS
 * to NS_FLAG or else the context's namespace (caller frees). 0 or -errno.
 */
int kube_open(const char *kubeconfig_path, const char *context, const char *ns_flag,
	      struct kube_client **out, char **ns, struct kube_err *err);

/* The server URL the client talks to (for messages). */
const char *kube_client_server(const struct kube_client *c);

/*
 * GETs PATH (starting with '/', query string included, already escaped) and
 * parses the JSON body into *OUT (caller puts it). Errors: -EACCES (401),
 * -EPERM (403), -ENOENT (404), -EAGAIN (429), -EIO (5xx), -EPROTO (other
 * status), -EBADMSG (not JSON), -ECONNREFUSED/-ETIMEDOUT/-EHOSTUNREACH
 * (transport), with the API's Status message in ERR.
 */
int kube_get(struct kube_client *c, const char *path, json_object **out, struct kube_err *err);

/*
 * GETs one object: GROUP_VERSION is "v1" (core) or "apps/v1"; NS may be NULL
 * for cluster-scoped resources; NAME is escaped here.
 */
int kube_get_object(struct kube_client *c, const char *group_version, const char *ns,
		    const char *resource, const char *name, json_object **out,
		    struct kube_err *err);

/* Lists RESOURCE in NS with optional label and field selectors (escaped here). */
int kube_list(struct kube_client *c, const char *group_version, const char *ns,
	      const char *resource, const char *label_selector, const char *field_selector,
	      json_object **out, struct kube_err *err);

/*
 * Turns a non-2xx answer into -errno and a sentence in ERR, using the body's
 * Status object (message, reason) when there is one. WHAT names the request
 * for the message ("GET /api/v1/..."). Exposed for the unit tests.
 */
int kube_status_error(long http_code, const char *body, size_t len, const char *what,
		      struct kube_err *err);

/*
 * Runs KC's exec credential plugin and returns its token (or client
 * certificate and key as PEM) from the ExecCredential it prints.
 * Returns 0 or -errno with ERR filled. Exposed for the unit tests.
 */
struct kube_exec_cred {
	char *token;
	char *cert_pem;
	char *key_pem;
};
int kube_exec_credential(const struct kubeconfig *kc, struct kube_exec_cred *out,
			 struct kube_err *err);
void kube_exec_cred_clear(struct kube_exec_cred *cred);

/* The -n/--namespace, --kubeconfig and --context flags of every command. */
struct kube_flags {
	const char *ns;
	const char *kubeconfig;
	const char *context;
};

/* Takes getopt's OPT ('n', 'k' or 'c') into F; false for any other option. */
bool kube_flags_take(struct kube_flags *f, int opt, const char *arg);

/* Their entries in a command's opttab table. */
#define KUBE_FLAGS_OPTS                                                                            \
	{"namespace", 'n', OPTTAB_SHORT, "NAMESPACE", "namespace (default: the context's)"},       \
	    {"kubeconfig", 'k', 0, "FILE", "kubeconfig (default: $KUBECONFIG, ~/.kube/config)"},   \
	{                                                                                          \
		"context", 'c', 0, "NAME", "kubeconfig context (default: its current one)"         \
	}

/* Small accessors for json-c objects; NULL when absent or of another type. */

json_object *kj_get(json_object *obj, const char *path); /* "a.b.c" */
const char *kj_str(json_object *obj, const char *path);
/* Integer at PATH, DEF when absent or not a number. */
long long kj_int(json_object *obj, const char *path, long long def);
/* Array length at PATH (0 when absent); kj_idx for items. */
size_t kj_len(json_object *obj, const char *path);
json_object *kj_idx(json_object *obj, const char *path, size_t i);

#endif
