/* Reads a kubeconfig file and resolves one context into what a client needs. */
#include "kubeconfig.h"
#include "log.h"
#include "readfile.h"
#include "yamlnode.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define KUBECONFIG_MAX_SIZE (16 << 20)

void kube_err_set(struct kube_err *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	err->hint[0] = '\0';
}

void kube_err_hint(struct kube_err *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->hint, sizeof(err->hint), fmt, ap);
	va_end(ap);
}

void kube_err_log(const struct kube_err *err, const char *fallback)
{
	if (!err || !err->msg[0]) {
		log_error("%s", fallback);
		return;
	}
	log_error("%s", err->msg);
	if (err->hint[0])
		log_error("hint: %s", err->hint);
}

/* ---- base64 ------------------------------------------------------------- */

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

int kube_base64_decode(const char *in, size_t len, struct kube_blob *out)
{
	unsigned char *buf;
	uint32_t acc = 0;
	size_t n = 0, bits = 0, pad = 0;

	buf = malloc(len / 4 * 3 + 4);
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		int v;

		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		v = b64_value(c);
		if (v < 0 || pad)
			goto invalid;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[n++] = (unsigned char)(acc >> bits);
		}
	}
	/* 6 leftover bits cannot encode anything: a truncated input. */
	if (bits >= 6 || pad > 2)
		goto invalid;
	out->data = buf;
	out->len = n;
	return 0;
invalid:
	free(buf);
	return -EINVAL;
}

/* ---- YAML document helpers ----------------------------------------------- */

struct kc_doc {
	yaml_document_t doc;
	const char *base_dir;
	const char *origin; /* file name for messages */
	struct kube_err *err;
};

static const char *map_str(struct kc_doc *d, yaml_node_t *map, const char *key)
{
	yaml_node_t *n = ynode_map_get(&d->doc, map, key);

	/* YAML's null ("~", "null", empty) reads as "not set". */
	return ynode_is_null(n) ? NULL : ynode_scalar(n);
}

static bool map_bool(struct kc_doc *d, yaml_node_t *map, const char *key)
{
	const char *s = map_str(d, map, key);

	return s && (strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0 ||
		     strcasecmp(s, "on") == 0);
}

/* Finds the item of the named list (clusters, users, contexts) called NAME. */
static yaml_node_t *named_entry(struct kc_doc *d, yaml_node_t *root, const char *list,
				const char *field, const char *name)
{
	yaml_node_t *seq = ynode_map_get(&d->doc, root, list);

	if (!seq || seq->type != YAML_SEQUENCE_NODE)
		return NULL;
	for (yaml_node_item_t *it = seq->data.sequence.items.start;
	     it < seq->data.sequence.items.top; it++) {
		yaml_node_t *item = ynode_at(&d->doc, *it);
		const char *n = map_str(d, item, "name");

		if (n && strcmp(n, name) == 0) {
			yaml_node_t *v = ynode_map_get(&d->doc, item, field);

			/* An entry with an empty body is legal: treat as {}. */
			return v ? v : item;
		}
	}
	return NULL;
}

/* Writes the names in LIST to BUF as "a, b, c" (truncated), for hints. */
static void list_names(struct kc_doc *d, yaml_node_t *root, const char *list, char *buf, size_t len)
{
	yaml_node_t *seq = ynode_map_get(&d->doc, root, list);
	size_t off = 0;

	buf[0] = '\0';
	if (!seq || seq->type != YAML_SEQUENCE_NODE)
		return;
	for (yaml_node_item_t *it = seq->data.sequence.items.start;
	     it < seq->data.sequence.items.top && off < len; it++) {
		const char *n = map_str(d, ynode_at(&d->doc, *it), "name");
		int w;

		if (!n)
			continue;
		w = snprintf(buf + off, len - off, "%s%s", off ? ", " : "", n);
		if (w < 0)
			break;
		off += (size_t)w;
	}
	if (!buf[0])
		snprintf(buf, len, "(none)");
}

static int dup_str(const char *s, char **out)
{
	if (!s) {
		*out = NULL;
		return 0;
	}
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

/* Copies a path field, making a relative path absolute against base_dir. */
static int dup_path(struct kc_doc *d, const char *s, char **out)
{
	*out = NULL;
	if (!s)
		return 0;
	if (s[0] == '/' || !d->base_dir)
		return dup_str(s, out);
	if (asprintf(out, "%s/%s", d->base_dir, s) < 0) {
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

static int dup_b64(struct kc_doc *d, const char *s, const char *what, struct kube_blob *out)
{
	int err;

	if (!s)
		return 0;
	err = kube_base64_decode(s, strlen(s), out);
	if (err == -EINVAL)
		kube_err_set(d->err, "%s: %s is not valid base64", d->origin, what);
	return err;
}

/* ---- sections ------------------------------------------------------------- */

static int parse_cluster(struct kc_doc *d, yaml_node_t *c, struct kubeconfig *kc)
{
	const char *server = map_str(d, c, "server");
	size_t n;
	int err;

	if (!server) {
		kube_err_set(d->err, "%s: cluster '%s' has no server address", d->origin,
			     kc->cluster);
		return -EINVAL;
	}
	err = dup_str(server, &kc->server);
	if (err)
		return err;
	n = strlen(kc->server);
	while (n > 0 && kc->server[n - 1] == '/')
		kc->server[--n] = '\0';
	if (strncmp(kc->server, "https://", 8) != 0 && strncmp(kc->server, "http://", 7) != 0) {
		kube_err_set(d->err, "%s: cluster '%s' server '%s' is not an http(s) URL",
			     d->origin, kc->cluster, kc->server);
		return -EINVAL;
	}
	kc->insecure = map_bool(d, c, "insecure-skip-tls-verify");
	err = dup_path(d, map_str(d, c, "certificate-authority"), &kc->ca_file);
	if (!err)
		err = dup_b64(d, map_str(d, c, "certificate-authority-data"),
			      "certificate-authority-data", &kc->ca_data);
	if (!err)
		err = dup_str(map_str(d, c, "tls-server-name"), &kc->tls_server_name);
	return err;
}

static int dup_str_seq(struct kc_doc *d, yaml_node_t *seq, char ***out)
{
	size_t n = 0;
	char **v;

	if (seq && seq->type == YAML_SEQUENCE_NODE)
		n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
	v = calloc(n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	*out = v;
	for (size_t i = 0; i < n; i++) {
		const char *s = ynode_scalar(ynode_at(&d->doc, seq->data.sequence.items.start[i]));

		v[i] = strdup(s ? s : "");
		if (!v[i])
			return -ENOMEM;
	}
	return 0;
}

static int parse_exec(struct kc_doc *d, yaml_node_t *e, struct kubeconfig *kc)
{
	struct kube_exec *x;
	yaml_node_t *env;
	const char *cmd = map_str(d, e, "command");
	size_t n = 0;
	int err;

	if (!cmd) {
		kube_err_set(d->err, "%s: user '%s' has an exec plugin without a command",
			     d->origin, kc->user);
		return -EINVAL;
	}
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	kc->exec = x;
	err = dup_str(map_str(d, e, "apiVersion"), &x->api_version);
	if (!err)
		err = strchr(cmd, '/') ? dup_path(d, cmd, &x->command) : dup_str(cmd, &x->command);
	if (!err)
		err = dup_str(map_str(d, e, "installHint"), &x->install_hint);
	if (!err)
		err = dup_str_seq(d, ynode_map_get(&d->doc, e, "args"), &x->args);
	if (err)
		return err;
	env = ynode_map_get(&d->doc, e, "env");
	if (env && env->type == YAML_SEQUENCE_NODE)
		n = (size_t)(env->data.sequence.items.top - env->data.sequence.items.start);
	x->env = calloc(n + 1, sizeof(*x->env));
	if (!x->env)
		return -ENOMEM;
	for (size_t i = 0, j = 0; i < n; i++) {
		yaml_node_t *item = ynode_at(&d->doc, env->data.sequence.items.start[i]);
		const char *name = map_str(d, item, "name");
		const char *value = map_str(d, item, "value");

		if (!name || strchr(name, '='))
			continue;
		if (asprintf(&x->env[j], "%s=%s", name, value ? value : "") < 0) {
			x->env[j] = NULL;
			return -ENOMEM;
		}
		j++;
	}
	return 0;
}

static int parse_user(struct kc_doc *d, yaml_node_t *u, struct kubeconfig *kc)
{
	yaml_node_t *exec = ynode_map_get(&d->doc, u, "exec");
	int err;

	err = dup_str(map_str(d, u, "token"), &kc->token);
	if (!err)
		err = dup_path(d, map_str(d, u, "tokenFile"), &kc->token_file);
	if (!err)
		err = dup_path(d, map_str(d, u, "client-certificate"), &kc->cert_file);
	if (!err)
		err = dup_path(d, map_str(d, u, "client-key"), &kc->key_file);
	if (!err)
		err = dup_b64(d, map_str(d, u, "client-certificate-data"),
			      "client-certificate-data", &kc->cert_data);
	if (!err)
		err =
		    dup_b64(d, map_str(d, u, "client-key-data"), "client-key-data", &kc->key_data);
	if (!err)
		err = dup_str(map_str(d, u, "username"), &kc->username);
	if (!err)
		err = dup_str(map_str(d, u, "password"), &kc->password);
	if (!err && exec && exec->type == YAML_MAPPING_NODE)
		err = parse_exec(d, exec, kc);
	else if (!err && ynode_map_get(&d->doc, u, "auth-provider"))
		log_warn("%s: user '%s' uses an auth-provider, which bpfmirror does not run; "
			 "use a token or an exec plugin",
			 d->origin, kc->user);
	return err;
}

/* Resolves the context and fills KC from its cluster and user. */
static int resolve(struct kc_doc *d, const char *context, struct kubeconfig *kc)
{
	yaml_node_t *root = yaml_document_get_root_node(&d->doc);
	yaml_node_t *ctx, *cluster, *user = NULL;
	char names[200];
	const char *s;
	int err;

	if (!root || root->type != YAML_MAPPING_NODE) {
		kube_err_set(d->err, "%s is not a kubeconfig (not a YAML mapping)", d->origin);
		return -EINVAL;
	}
	if (!context)
		context = map_str(d, root, "current-context");
	if (!context) {
		list_names(d, root, "contexts", names, sizeof(names));
		kube_err_set(d->err, "%s has no current-context", d->origin);
		kube_err_hint(d->err, "pass --context NAME (contexts: %s)", names);
		return -ENOENT;
	}
	err = dup_str(context, &kc->context);
	if (err)
		return err;
	ctx = named_entry(d, root, "contexts", "context", context);
	if (!ctx) {
		list_names(d, root, "contexts", names, sizeof(names));
		kube_err_set(d->err, "context '%s' is not in %s", context, d->origin);
		kube_err_hint(d->err, "contexts in that file: %s", names);
		return -ENOENT;
	}
	s = map_str(d, ctx, "cluster");
	if (!s) {
		kube_err_set(d->err, "context '%s' in %s names no cluster", context, d->origin);
		return -EINVAL;
	}
	err = dup_str(s, &kc->cluster);
	if (err)
		return err;
	cluster = named_entry(d, root, "clusters", "cluster", s);
	if (!cluster) {
		list_names(d, root, "clusters", names, sizeof(names));
		kube_err_set(d->err, "context '%s' uses cluster '%s', which is not in %s", context,
			     s, d->origin);
		kube_err_hint(d->err, "clusters in that file: %s", names);
		return -ENOENT;
	}
	s = map_str(d, ctx, "user");
	if (s) {
		err = dup_str(s, &kc->user);
		if (err)
			return err;
		user = named_entry(d, root, "users", "user", s);
		if (!user) {
			list_names(d, root, "users", names, sizeof(names));
			kube_err_set(d->err, "context '%s' uses user '%s', which is not in %s",
				     context, s, d->origin);
			kube_err_hint(d->err, "users in that file: %s", names);
			return -ENOENT;
		}
	}
	err = dup_str(map_str(d, ctx, "namespace") ?: "default", &kc->namespace);
	if (!err)
		err = parse_cluster(d, cluster, kc);
	if (!err && user)
		err = parse_user(d, user, kc);
	return err;
}

struct kubeconfig *kubeconfig_parse(const char *buf, size_t len, const char *context,
				    const char *base_dir, struct kube_err *err)
{
	struct kc_doc d = {.base_dir = base_dir, .origin = "kubeconfig", .err = err};
	struct kubeconfig *kc = NULL;
	char yerr[200];
	int ret;

	ret = ynode_load(&d.doc, buf, len, NULL, yerr, sizeof(yerr));
	if (ret) {
		if (ret == -EINVAL)
			kube_err_set(err, "kubeconfig is not valid YAML: %s", yerr);
		goto out;
	}
	kc = calloc(1, sizeof(*kc));
	ret = kc ? resolve(&d, context, kc) : -ENOMEM;
	yaml_document_delete(&d.doc);
out:
	if (ret) {
		if (ret == -ENOMEM && err && !err->msg[0])
			kube_err_set(err, "out of memory reading the kubeconfig");
		kubeconfig_free(kc);
		errno = -ret;
		return NULL;
	}
	return kc;
}

struct kubeconfig *kubeconfig_load(const char *path, const char *context, struct kube_err *err)
{
	struct kubeconfig *kc = NULL;
	char *buf = NULL, *dir = NULL, *slash;
	size_t len = 0;
	int ret;

	ret = readfile_at(AT_FDCWD, path, KUBECONFIG_MAX_SIZE, READFILE_REGULAR, &buf, &len);
	if (ret) {
		kube_err_set(err, "cannot read kubeconfig %s: %s", path, strerror(-ret));
		goto out;
	}
	dir = strdup(path);
	if (!dir) {
		ret = -ENOMEM;
		goto out;
	}
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	kc = kubeconfig_parse(buf, len, context, slash ? dir : NULL, err);
	if (!kc) {
		ret = -errno;
		/* Name the file in messages that only said "kubeconfig". */
		if (err && strncmp(err->msg, "kubeconfig", 10) == 0) {
			char tmp[sizeof(err->msg)];

			snprintf(tmp, sizeof(tmp), "%s%s", path, err->msg + 10);
			memcpy(err->msg, tmp, sizeof(tmp));
		}
		goto out;
	}
	kc->path = strdup(path);
	if (!kc->path) {
		ret = -ENOMEM;
		kubeconfig_free(kc);
		kc = NULL;
	}
out:
	free(dir);
	free(buf);
	if (!kc)
		errno = -ret;
	return kc;
}

int kubeconfig_locate(const char *explicit_path, char *buf, size_t len, struct kube_err *err)
{
	const char *env = getenv("KUBECONFIG");
	const char *home = getenv("HOME");
	char looked[400] = "";
	int w;

	if (explicit_path && explicit_path[0]) {
		if (access(explicit_path, R_OK) != 0) {
			kube_err_set(err, "cannot read kubeconfig %s (--kubeconfig): %s",
				     explicit_path, strerror(errno));
			return -ENOENT;
		}
		w = snprintf(buf, len, "%s", explicit_path);
		return w < 0 || (size_t)w >= len ? -ENAMETOOLONG : 0;
	}
	if (env && env[0]) {
		const char *p = env;

		while (*p) {
			size_t n = strcspn(p, ":");

			if (n > 0 && n < len) {
				memcpy(buf, p, n);
				buf[n] = '\0';
				if (access(buf, R_OK) == 0)
					return 0;
			}
			p += n;
			if (*p == ':')
				p++;
		}
		snprintf(looked, sizeof(looked), "$KUBECONFIG (%s)", env);
	} else if (home && home[0]) {
		w = snprintf(buf, len, "%s/.kube/config", home);
		if (w > 0 && (size_t)w < len && access(buf, R_OK) == 0)
			return 0;
		snprintf(looked, sizeof(looked), "%s/.kube/config", home);
	} else {
		snprintf(looked, sizeof(looked), "~/.kube/config ($HOME is not set)");
	}
	kube_err_set(err, "no kubeconfig found: looked in %s", looked);
	kube_err_hint(err, "pass --kubeconfig FILE or set KUBECONFIG");
	return -ENOENT;
}

struct kubeconfig *kubeconfig_open(const char *explicit_path, const char *context,
				   struct kube_err *err)
{
	char path[4096];
	int ret;

	ret = kubeconfig_locate(explicit_path, path, sizeof(path), err);
	if (ret) {
		errno = -ret;
		return NULL;
	}
	log_debug("kubeconfig: %s", path);
	return kubeconfig_load(path, context, err);
}

static void free_strv(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static void free_secret(char *s)
{
	if (s)
		explicit_bzero(s, strlen(s));
	free(s);
}

static void free_blob(struct kube_blob *b)
{
	if (b->data)
		explicit_bzero(b->data, b->len);
	free(b->data);
}

void kubeconfig_free(struct kubeconfig *kc)
{
	if (!kc)
		return;
	if (kc->exec) {
		free(kc->exec->api_version);
		free(kc->exec->command);
		free_strv(kc->exec->args);
		free_strv(kc->exec->env);
		free(kc->exec->install_hint);
		free(kc->exec);
	}
	free_secret(kc->password);
	free(kc->username);
	free_blob(&kc->key_data);
	free(kc->key_file);
	free_blob(&kc->cert_data);
	free(kc->cert_file);
	free(kc->token_file);
	free_secret(kc->token);
	free(kc->tls_server_name);
	free_blob(&kc->ca_data);
	free(kc->ca_file);
	free(kc->server);
	free(kc->namespace);
	free(kc->user);
	free(kc->cluster);
	free(kc->context);
	free(kc->path);
	free(kc);
}
