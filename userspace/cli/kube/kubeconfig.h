/* Reads a kubeconfig file and resolves one context into what a client needs. */
#ifndef BPFMIRROR_KUBECONFIG_H
#define BPFMIRROR_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>

/*
 * A human-readable error: a sentence saying what went wrong and, when there is
 * one, a hint saying what to do. Filled where the problem is detected, printed
 * by the command (the edge).
 */
struct kube_err {
	char msg[512];
	char hint[256];
};

void kube_err_set(struct kube_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kube_err_hint(struct kube_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Logs err->msg (and the hint) through log_error(); a fallback text if empty. */
void kube_err_log(const struct kube_err *err, const char *fallback);

/* A byte string decoded from a *-data field (base64 in the file). */
struct kube_blob {
	unsigned char *data;
	size_t len;
};

/* An `exec` credential plugin (client.authentication.k8s.io). */
struct kube_exec {
	char *api_version;
	char *command; /* as written; relative paths with a '/' are made absolute */
	char **args;   /* NULL-terminated */
	char **env;    /* NULL-terminated "NAME=value" strings added to ours */
	char *install_hint;
};

struct kubeconfig {
	char *path;	 /* file it came from (NULL when parsed from memory) */
	char *context;	 /* context name used */
	char *cluster;	 /* cluster name */
	char *user;	 /* user name (may be NULL: no credentials) */
	char *namespace; /* the context's namespace, "default" if unset */

	char *server; /* https://host:port, no trailing '/' */
	char *ca_file;
	struct kube_blob ca_data;
	bool insecure;
	char *tls_server_name;

	char *token;
	char *token_file;
	char *cert_file;
	struct kube_blob cert_data;
	char *key_file;
	struct kube_blob key_data;
	char *username; /* basic auth, rarely used */
	char *password;
	struct kube_exec *exec;
};

/*
 * Picks the kubeconfig file: EXPLICIT (--kubeconfig) if given, else the first
 * entry of $KUBECONFIG (a colon list: only its first existing file is read,
 * the others are not merged), else ~/.kube/config. Returns 0 with the path in
 * BUF, -ENOENT with a sentence naming where it looked in ERR.
 */
int kubeconfig_locate(const char *explicit_path, char *buf, size_t len, struct kube_err *err);

/*
 * Parses kubeconfig YAML in BUF and resolves CONTEXT (NULL: current-context).
 * Relative file paths in it are taken relative to BASE_DIR (the file's
 * directory; NULL: the working directory), as kubectl does.
 * Returns NULL with errno set (EINVAL bad YAML or fields, ENOENT unknown
 * context/cluster/user) and a sentence in ERR.
 */
struct kubeconfig *kubeconfig_parse(const char *buf, size_t len, const char *context,
				    const char *base_dir, struct kube_err *err);

/* Reads PATH and calls kubeconfig_parse(); NULL with errno and ERR on error. */
struct kubeconfig *kubeconfig_load(const char *path, const char *context, struct kube_err *err);

/* kubeconfig_locate() + kubeconfig_load(). */
struct kubeconfig *kubeconfig_open(const char *explicit_path, const char *context,
				   struct kube_err *err);

void kubeconfig_free(struct kubeconfig *kc);

/*
 * Decodes standard base64 (padding optional, whitespace ignored) into a new
 * buffer. Returns 0 or -EINVAL on a malformed input, -ENOMEM.
 */
int kube_base64_decode(const char *in, size_t len, struct kube_blob *out);

#endif
