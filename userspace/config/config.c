/* The config model: its keys, defaults, flag overrides and checks across keys. */
#include "config_priv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OFF(field) offsetof(struct bm_userconfig, field)

static int check_target(const char *s, struct bm_error *err)
{
	struct bm_target t;

	return config_parse_target(s, &t, err);
}

static int check_namespace(const char *s, struct bm_error *err)
{
	size_t len = strlen(s);
	bool ok = len > 0 && len <= 63;

	for (size_t i = 0; ok && i < len; i++)
		ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		     (s[i] == '-' && i > 0 && i + 1 < len);
	if (!ok)
		return config_err(err,
				  "expected a namespace name (lower-case letters, digits and '-', "
				  "at most 63), got \"%s\"",
				  s);
	return 0;
}

static int check_any(const char *s, struct bm_error *err)
{
	(void)s;
	(void)err;
	return 0;
}

static int check_header_regex(const char *s, struct bm_error *err)
{
	return config_check_regex(s, true, err);
}

static int check_path_regex(const char *s, struct bm_error *err)
{
	return config_check_regex(s, false, err);
}

static int check_address(const char *s, struct bm_error *err)
{
	char host[256];
	uint16_t port;

	return config_parse_hostport(s, host, sizeof(host), &port, err);
}

const struct cfg_key config_keys[] = {
    {"target", CFG_STRING, OFF(target), check_target},
    {"namespace", CFG_STRING, OFF(namespace), check_namespace},
    {"kubeconfig", CFG_STRING, OFF(kubeconfig), check_any},
    {"context", CFG_STRING, OFF(context), check_any},
    {"incoming", CFG_SECTION, 0, NULL},
    {"incoming.mode", CFG_MODE, OFF(incoming.mode), NULL},
    {"incoming.ports", CFG_PORTS, OFF(incoming.ports), NULL},
    {"incoming.http_filter", CFG_SECTION, 0, NULL},
    {"incoming.http_filter.header", CFG_STRING, OFF(incoming.header), check_header_regex},
    {"incoming.http_filter.path", CFG_STRING, OFF(incoming.path), check_path_regex},
    {"outgoing", CFG_SECTION, 0, NULL},
    {"outgoing.enabled", CFG_BOOL, OFF(outgoing.enabled), NULL},
    {"outgoing.local", CFG_ENDPOINTS, OFF(outgoing.local), NULL},
    {"env", CFG_SECTION, 0, NULL},
    {"env.include", CFG_GLOBS, OFF(env.include), NULL},
    {"env.exclude", CFG_GLOBS, OFF(env.exclude), NULL},
    {"env.override", CFG_ENV_MAP, OFF(env.override), NULL},
    {"fs", CFG_SECTION, 0, NULL},
    {"fs.read_only", CFG_PATHS, OFF(fs.read_only), NULL},
    {"fs.read_write", CFG_PATHS, OFF(fs.read_write), NULL},
    {"fs.local", CFG_PATHS, OFF(fs.local), NULL},
    {"agent", CFG_SECTION, 0, NULL},
    {"agent.address", CFG_STRING, OFF(agent.address), check_address},
    {"agent.connect", CFG_CONNECT, OFF(agent.connect), NULL},
    {NULL, CFG_SECTION, 0, NULL},
};

const struct cfg_key *config_key_find(const char *path)
{
	for (const struct cfg_key *k = config_keys; k->path; k++) {
		if (strcmp(k->path, path) == 0)
			return k;
	}
	return NULL;
}

void *config_field(struct bm_userconfig *cfg, const struct cfg_key *k)
{
	return (char *)cfg + k->off;
}

/* The last component of a dotted path and the length of its parent prefix. */
static const char *key_leaf(const char *path, size_t *parent_len)
{
	const char *dot = strrchr(path, '.');

	*parent_len = dot ? (size_t)(dot - path) : 0;
	return dot ? dot + 1 : path;
}

void config_key_hint(const char *prefix, const char *name, char *buf, size_t len)
{
	const struct cfg_key *best = NULL;
	unsigned int best_d = 100;
	size_t plen = strlen(prefix), parent;

	buf[0] = '\0';
	for (const struct cfg_key *k = config_keys; k->path; k++) {
		const char *leaf = key_leaf(k->path, &parent);
		unsigned int d, limit;

		if (parent != plen || strncmp(k->path, prefix, plen) != 0)
			continue;
		d = config_edit_distance(name, leaf);
		limit = strlen(leaf) >= 5 ? 2 : 1;
		if (d <= limit && d < best_d) {
			best = k;
			best_d = d;
		}
	}
	if (best) {
		snprintf(buf, len, " (did you mean '%s'?)", key_leaf(best->path, &parent));
		return;
	}
	/* Right name, wrong level: "header" at the top belongs to incoming.http_filter. */
	for (const struct cfg_key *k = config_keys; k->path; k++) {
		const char *leaf = key_leaf(k->path, &parent);

		if (parent && config_edit_distance(name, leaf) == 0) {
			snprintf(buf, len, " ('%s' belongs under '%.*s')", leaf, (int)parent,
				 k->path);
			return;
		}
	}
}

static void strlist_free(struct bm_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void endpoints_free(struct bm_endpoint_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].host);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void env_map_free(struct bm_env_map *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->v[i].name);
		free(m->v[i].value);
	}
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

void config_free(struct bm_userconfig *cfg)
{
	for (const struct cfg_key *k = config_keys; k->path; k++) {
		void *f = config_field(cfg, k);

		if (k->kind == CFG_STRING)
			free(*(char **)f);
		else if (k->kind != CFG_SECTION)
			config_clear_list(cfg, k);
	}
	free(cfg->file);
	memset(cfg, 0, sizeof(*cfg));
}

static int strlist_push(struct bm_strlist *l, const char *s)
{
	char **v;
	char *copy;

	copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v) {
		free(copy);
		return -ENOMEM;
	}
	v[l->n++] = copy;
	l->v = v;
	l->set = true;
	return 0;
}

int config_defaults(struct bm_userconfig *cfg)
{
	/* The developer's own PATH and HOME; the loader's variables would point
	 * the local binary at the container's libraries (or preload them). */
	static const char *const exclude[] = {"PATH", "HOME", "LD_PRELOAD", "LD_LIBRARY_PATH",
					      "LD_AUDIT"};
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	cfg->incoming.mode = BM_MODE_MIRROR;
	cfg->outgoing.enabled = true;
	cfg->agent.connect = BM_CONNECT_PORT_FORWARD;
	rc = strlist_push(&cfg->env.include, "*");
	for (size_t i = 0; !rc && i < sizeof(exclude) / sizeof(exclude[0]); i++)
		rc = strlist_push(&cfg->env.exclude, exclude[i]);
	if (rc)
		goto err_free;
	/* These lists hold defaults, not values a user set. */
	cfg->env.include.set = false;
	cfg->env.exclude.set = false;
	return 0;

err_free:
	config_free(cfg);
	return rc;
}

void config_clear_list(struct bm_userconfig *cfg, const struct cfg_key *k)
{
	void *f = config_field(cfg, k);

	switch (k->kind) {
	case CFG_PORTS: {
		struct bm_portlist *l = f;

		free(l->v);
		l->v = NULL;
		l->n = 0;
		l->set = true;
		break;
	}
	case CFG_ENDPOINTS:
		endpoints_free(f);
		break;
	case CFG_GLOBS:
	case CFG_PATHS:
		strlist_free(f);
		((struct bm_strlist *)f)->set = true;
		break;
	case CFG_ENV_MAP:
		env_map_free(f);
		break;
	default:
		break;
	}
}

/* kubeconfig: "~/x" means $HOME/x, as in a shell (and as kubectl documents it). */
static char *expand_home(const struct cfg_key *k, const char *s)
{
	const char *home = getenv("HOME");
	char *out;

	if (k->off != OFF(kubeconfig) || strncmp(s, "~/", 2) != 0 || !home || !*home)
		return strdup(s);
	if (asprintf(&out, "%s/%s", home, s + 2) < 0)
		return NULL;
	return out;
}

int config_store_scalar(struct bm_userconfig *cfg, const struct cfg_key *k, const char *s,
			struct bm_error *err)
{
	void *f = config_field(cfg, k);
	char *copy = NULL;
	int rc;

	switch (k->kind) {
	case CFG_STRING:
		if (*s) {
			rc = k->check(s, err);
			if (rc)
				return rc;
			copy = expand_home(k, s);
			if (!copy)
				return -ENOMEM;
		}
		free(*(char **)f);
		*(char **)f = copy;
		return 0;
	case CFG_BOOL:
		return config_parse_bool(s, f, err);
	case CFG_MODE:
		return config_parse_mode(s, f, err);
	case CFG_CONNECT:
		return config_parse_connect(s, f, err);
	default:
		return config_err(err, "expected a list, not a single value");
	}
}

int config_append_endpoint(struct bm_endpoint_list *l, const char *host, uint16_t port,
			   uint16_t local_port, struct bm_error *err)
{
	struct bm_endpoint *v;
	char *copy;

	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i].port == port && strcmp(l->v[i].host, host) == 0)
			return config_err(err, "endpoint %s:%u is listed twice", host, port);
	}
	if (l->n >= BM_CONFIG_MAX_LIST)
		return config_err(err, "too many entries (at most %d)", BM_CONFIG_MAX_LIST);
	copy = strdup(host);
	if (!copy)
		return -ENOMEM;
	v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v) {
		free(copy);
		return -ENOMEM;
	}
	v[l->n].host = copy;
	v[l->n].port = port;
	v[l->n].local_port = local_port ? local_port : port;
	l->v = v;
	l->n++;
	return 0;
}

static int append_port(struct bm_portlist *l, const char *s, struct bm_error *err)
{
	uint16_t port, *v;
	int rc;

	rc = config_parse_port(s, &port, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i] == port)
			return config_err(err, "port %u is listed twice", port);
	}
	if (l->n >= BM_CONFIG_MAX_LIST)
		return config_err(err, "too many ports (at most %d)", BM_CONFIG_MAX_LIST);
	v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	v[l->n++] = port;
	l->v = v;
	l->set = true;
	return 0;
}

static int append_pattern(struct bm_strlist *l, const char *s, bool path, struct bm_error *err)
{
	if (!*s)
		return config_err(err, "expected a non-empty pattern");
	if (path && s[0] != '/')
		return config_err(err,
				  "expected an absolute path pattern (starting with '/'), got "
				  "\"%s\"",
				  s);
	if (strlen(s) >= 4096)
		return config_err(err, "pattern longer than 4095 characters");
	if (l->n >= BM_CONFIG_MAX_LIST)
		return config_err(err, "too many entries (at most %d)", BM_CONFIG_MAX_LIST);
	return strlist_push(l, s);
}

int config_append_item(struct bm_userconfig *cfg, const struct cfg_key *k, const char *s,
		       struct bm_error *err)
{
	void *f = config_field(cfg, k);
	char host[256];
	uint16_t port;
	int rc;

	switch (k->kind) {
	case CFG_PORTS:
		return append_port(f, s, err);
	case CFG_GLOBS:
		return append_pattern(f, s, false, err);
	case CFG_PATHS:
		return append_pattern(f, s, true, err);
	case CFG_ENDPOINTS:
		rc = config_parse_hostport(s, host, sizeof(host), &port, err);
		return rc ? rc : config_append_endpoint(f, host, port, 0, err);
	default:
		return config_err(err, "expected a single value, not a list");
	}
}

int config_env_set(struct bm_env_map *m, const char *name, const char *value, bool dup_is_error,
		   struct bm_error *err)
{
	struct bm_env_var *v;
	char *n = NULL, *val = NULL;

	if (!*name || strchr(name, '='))
		return config_err(err, "invalid variable name \"%s\" (non-empty, no '=')", name);
	for (size_t i = 0; i < m->n; i++) {
		if (strcmp(m->v[i].name, name) != 0)
			continue;
		if (dup_is_error)
			return config_err(err, "variable %s is set twice", name);
		val = strdup(value);
		if (!val)
			return -ENOMEM;
		free(m->v[i].value);
		m->v[i].value = val;
		return 0;
	}
	if (m->n >= BM_CONFIG_MAX_LIST)
		return config_err(err, "too many variables (at most %d)", BM_CONFIG_MAX_LIST);
	n = strdup(name);
	val = strdup(value);
	v = n && val ? realloc(m->v, (m->n + 1) * sizeof(*v)) : NULL;
	if (!v) {
		free(n);
		free(val);
		return -ENOMEM;
	}
	v[m->n].name = n;
	v[m->n].value = val;
	m->v = v;
	m->n++;
	return 0;
}

/* Resolves a flag's key; "env.override.NAME" names one override. */
static const struct cfg_key *option_key(const char *key, const char **env_name,
					struct bm_error *err)
{
	const struct cfg_key *k;
	const char *leaf;
	char hint[128], prefix[64];
	size_t parent;

	*env_name = NULL;
	if (strncmp(key, "env.override.", 13) == 0) {
		*env_name = key + 13;
		return config_key_find("env.override");
	}
	k = config_key_find(key);
	if (k && k->kind != CFG_SECTION)
		return k;
	if (k) {
		config_err(err, "%s: is a section; name one of its keys", key);
		return NULL;
	}
	leaf = key_leaf(key, &parent);
	snprintf(prefix, sizeof(prefix), "%.*s", (int)(parent < 63 ? parent : 63), key);
	config_key_hint(prefix, leaf, hint, sizeof(hint));
	config_err(err, "%s: unknown key%s", key, hint);
	return NULL;
}

/* "env.override.NAME" with VALUE, or "env.override" with "NAME=VALUE". */
static int set_env_option(struct bm_env_map *m, const char *env_name, const char *value,
			  struct bm_error *err)
{
	const char *eq;
	char name[256];

	if (env_name)
		return config_env_set(m, env_name, value, false, err);
	eq = strchr(value, '=');
	if (!eq || eq == value || (size_t)(eq - value) >= sizeof(name))
		return config_err(err, "expected NAME=VALUE, got \"%s\"", value);
	snprintf(name, sizeof(name), "%.*s", (int)(eq - value), value);
	return config_env_set(m, name, eq + 1, false, err);
}

static int set_or_append(struct bm_userconfig *cfg, const char *key, const char *value, bool append,
			 struct bm_error *err)
{
	const struct cfg_key *k;
	const char *env_name;
	char *copy = NULL, *item, *save = NULL;
	int rc;

	k = option_key(key, &env_name, err);
	if (!k)
		return -EINVAL;
	if (k->kind == CFG_ENV_MAP) {
		rc = set_env_option(config_field(cfg, k), env_name, value, err);
		goto out;
	}
	if (k->kind == CFG_STRING || k->kind == CFG_BOOL || k->kind == CFG_MODE ||
	    k->kind == CFG_CONNECT) {
		if (append) {
			rc = config_err(err, "is not a list");
			goto out;
		}
		rc = config_store_scalar(cfg, k, value, err);
		if (!rc && strncmp(k->path, "incoming.http_filter.", 21) == 0)
			cfg->filter_mark = (struct bm_mark){0, 0};
		goto out;
	}
	/* A list: replace with the comma-separated items, or append them. */
	copy = strdup(value);
	if (!copy)
		return -ENOMEM;
	/* Flags override the file: the first list flag drops the file's or default items. */
	if (!append || !(cfg->flag_lists & (1u << (k - config_keys))))
		config_clear_list(cfg, k);
	cfg->flag_lists |= 1u << (k - config_keys);
	rc = 0;
	for (item = strtok_r(copy, ",", &save); item && !rc; item = strtok_r(NULL, ",", &save))
		rc = config_append_item(cfg, k, item, err);
out:
	free(copy);
	if (rc == -EINVAL)
		config_err_prefix(err, "%s: ", key);
	return rc;
}

int config_set_option(struct bm_userconfig *cfg, const char *key, const char *value,
		      struct bm_error *err)
{
	return set_or_append(cfg, key, value, false, err);
}

int config_append_option(struct bm_userconfig *cfg, const char *key, const char *value,
			 struct bm_error *err)
{
	return set_or_append(cfg, key, value, true, err);
}

int config_apply_assignment(struct bm_userconfig *cfg, const char *assignment, struct bm_error *err)
{
	const char *eq = strchr(assignment, '=');
	char key[128];

	if (!eq || eq == assignment || (size_t)(eq - assignment) >= sizeof(key))
		return config_err(err, "expected KEY=VALUE (e.g. incoming.mode=steal), got \"%s\"",
				  assignment);
	snprintf(key, sizeof(key), "%.*s", (int)(eq - assignment), assignment);
	return config_set_option(cfg, key, eq + 1, err);
}

int config_validate(const struct bm_userconfig *cfg, struct bm_error *err)
{
	if ((cfg->incoming.header || cfg->incoming.path) && cfg->incoming.mode != BM_MODE_STEAL) {
		if (cfg->filter_mark.line && cfg->file)
			return config_err(err,
					  "%s:%u:%u: incoming.http_filter: needs incoming.mode: "
					  "steal (a filter picks the requests to steal; mirror "
					  "copies every connection)",
					  cfg->file, cfg->filter_mark.line,
					  cfg->filter_mark.column);
		return config_err(err, "incoming.http_filter: needs incoming.mode steal (--steal): "
				       "a filter picks the requests to steal");
	}
	return 0;
}

/* snprintf into buf at *pos without running past len. */
static void append_fmt(char *buf, size_t len, size_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append_fmt(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*pos >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *pos, len - *pos, fmt, ap);
	va_end(ap);
	if (n > 0)
		*pos += (size_t)n;
}

void config_summary(const struct bm_userconfig *cfg, char *buf, size_t len)
{
	size_t pos = 0;

	if (!len)
		return;
	buf[0] = '\0';
	append_fmt(buf, len, &pos, "target %s", cfg->target ? cfg->target : "(from command line)");
	if (cfg->namespace)
		append_fmt(buf, len, &pos, " in %s", cfg->namespace);
	append_fmt(buf, len, &pos, "; %s", config_mode_name(cfg->incoming.mode));
	if (!cfg->incoming.ports.set) {
		append_fmt(buf, len, &pos, " on the declared ports");
	} else {
		append_fmt(buf, len, &pos, " on port%s", cfg->incoming.ports.n == 1 ? "" : "s");
		for (size_t i = 0; i < cfg->incoming.ports.n && i < 8; i++)
			append_fmt(buf, len, &pos, "%s%u", i ? "," : " ", cfg->incoming.ports.v[i]);
		if (cfg->incoming.ports.n > 8)
			append_fmt(buf, len, &pos, ",...");
		if (!cfg->incoming.ports.n)
			append_fmt(buf, len, &pos, " (none)");
	}
	if (cfg->incoming.header || cfg->incoming.path)
		append_fmt(buf, len, &pos, " filtered by%s%s",
			   cfg->incoming.header ? " header" : "",
			   cfg->incoming.path ? " path" : "");
	append_fmt(buf, len, &pos, "; outgoing %s", cfg->outgoing.enabled ? "on" : "off");
	if (cfg->outgoing.local.n)
		append_fmt(buf, len, &pos, " (%zu local endpoint%s)", cfg->outgoing.local.n,
			   cfg->outgoing.local.n == 1 ? "" : "s");
	if (cfg->env.override.n)
		append_fmt(buf, len, &pos, "; %zu env override%s", cfg->env.override.n,
			   cfg->env.override.n == 1 ? "" : "s");
	append_fmt(buf, len, &pos, "; agent via %s", config_connect_name(cfg->agent.connect));
	if (cfg->agent.address)
		append_fmt(buf, len, &pos, " at %s", cfg->agent.address);
}
