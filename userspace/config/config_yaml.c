/* Loads bpfmirror.yaml with libyaml's document API onto a struct bm_userconfig. */
#include "config_priv.h"
#include "readfile.h"
#include "yamlnode.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

/* YAML 1.2 core-schema types of a scalar, as an editor's JSON Schema sees them. */
enum scalar_type {
	ST_STRING,
	ST_NULL,
	ST_BOOL,
	ST_INT,
	ST_FLOAT,
};

struct loader {
	const char *name; /* the file as the user named it */
	yaml_document_t *doc;
	struct bm_userconfig *cfg;
	struct bm_error *err;
};

/* Reports "NAME:LINE:COL: KEY: problem" for node and returns -EINVAL. */
static int fail(struct loader *ld, const yaml_node_t *node, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct loader *ld, const yaml_node_t *node, const char *key, const char *fmt, ...)
{
	va_list ap;

	if (!ld->err)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(ld->err->msg, sizeof(ld->err->msg), fmt, ap);
	va_end(ap);
	config_err_prefix(ld->err, "%s:%zu:%zu: %s%s", ld->name, node->start_mark.line + 1,
			  node->start_mark.column + 1, key, *key ? ": " : "");
	return -EINVAL;
}

static bool all_digits(const char *s, int (*pred)(int))
{
	if (!*s)
		return false;
	for (; *s; s++) {
		if (!pred((unsigned char)*s))
			return false;
	}
	return true;
}

static int is_octal(int c)
{
	return c >= '0' && c <= '7';
}

static bool is_float(const char *s)
{
	bool digits = false;

	if (*s == '+' || *s == '-')
		s++;
	if (!strcmp(s, ".inf") || !strcmp(s, ".Inf") || !strcmp(s, ".INF"))
		return true;
	while (isdigit((unsigned char)*s)) {
		s++;
		digits = true;
	}
	if (*s == '.') {
		s++;
		while (isdigit((unsigned char)*s)) {
			s++;
			digits = true;
		}
	}
	if (!digits)
		return false;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!all_digits(s, isdigit))
			return false;
		return true;
	}
	return *s == '\0';
}

static enum scalar_type scalar_type(const yaml_node_t *node)
{
	const char *s = (const char *)node->data.scalar.value;
	const char *d = s + (*s == '+' || *s == '-');

	if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return ST_STRING;
	if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	    !strcmp(s, "NULL"))
		return ST_NULL;
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE") || !strcmp(s, "false") ||
	    !strcmp(s, "False") || !strcmp(s, "FALSE"))
		return ST_BOOL;
	if (all_digits(d, isdigit) || (!strncmp(s, "0o", 2) && all_digits(s + 2, is_octal)) ||
	    (!strncmp(s, "0x", 2) && all_digits(s + 2, isxdigit)))
		return ST_INT;
	if (is_float(s) || !strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN"))
		return ST_FLOAT;
	return ST_STRING;
}

/* "a list", "null", "integer 8080", "\"text\"": what the user wrote, for messages. */
static void describe(const yaml_node_t *node, char *buf, size_t len)
{
	const char *s = NULL;

	switch (node->type) {
	case YAML_SEQUENCE_NODE:
		snprintf(buf, len, "a list");
		return;
	case YAML_MAPPING_NODE:
		snprintf(buf, len, "a mapping");
		return;
	case YAML_SCALAR_NODE:
		break;
	default:
		snprintf(buf, len, "nothing");
		return;
	}
	s = (const char *)node->data.scalar.value;
	switch (scalar_type(node)) {
	case ST_NULL:
		snprintf(buf, len, "null");
		break;
	case ST_BOOL:
		snprintf(buf, len, "boolean %s", s);
		break;
	case ST_INT:
		snprintf(buf, len, "integer %.40s", s);
		break;
	case ST_FLOAT:
		snprintf(buf, len, "number %.40s", s);
		break;
	default:
		snprintf(buf, len, "\"%.80s\"", s);
		break;
	}
}

static int fail_type(struct loader *ld, const yaml_node_t *node, const char *key,
		     const char *expected)
{
	char got[128];

	describe(node, got, sizeof(got));
	return fail(ld, node, key, "expected %s, got %s", expected, got);
}

/* A scalar's text; embedded NUL bytes ("\0" escapes) would cut it short, so refuse them. */
static int scalar_text(struct loader *ld, const yaml_node_t *node, const char *key,
		       const char **out)
{
	const char *s = (const char *)node->data.scalar.value;

	if (strlen(s) != node->data.scalar.length)
		return fail(ld, node, key, "contains a NUL character");
	*out = s;
	return 0;
}

/* A scalar that is a string in the core schema (quote "123" to make it one). */
static int string_scalar(struct loader *ld, const yaml_node_t *node, const char *key,
			 const char *expected, const char **out)
{
	if (node->type != YAML_SCALAR_NODE || scalar_type(node) != ST_STRING) {
		int rc = fail_type(ld, node, key, expected);

		if (node->type == YAML_SCALAR_NODE && scalar_type(node) != ST_NULL && ld->err)
			strncat(ld->err->msg, " (quote it to use it as text)",
				sizeof(ld->err->msg) - strlen(ld->err->msg) - 1);
		return rc;
	}
	return scalar_text(ld, node, key, out);
}

/* Applies a value-level error from config_*: prefix it with position and key. */
static int located(struct loader *ld, const yaml_node_t *node, const char *key, int rc)
{
	if (rc == -EINVAL && ld->err)
		config_err_prefix(ld->err, "%s:%zu:%zu: %s: ", ld->name, node->start_mark.line + 1,
				  node->start_mark.column + 1, key);
	return rc;
}

static int load_mapping(struct loader *ld, const yaml_node_t *map, const char *prefix);

/*
 * Checks the key of pair p: a scalar, not seen earlier in the mapping. Done
 * pair by pair so an unknown key stops the walk before a long map is compared.
 */
static int check_key(struct loader *ld, const yaml_node_t *map, const yaml_node_pair_t *p,
		     const char *prefix)
{
	const yaml_node_t *k = yaml_document_get_node(ld->doc, p->key);
	const char *name = NULL;
	int rc;

	if (k->type != YAML_SCALAR_NODE)
		return fail_type(ld, k, prefix, "a key name");
	rc = scalar_text(ld, k, prefix, &name);
	if (rc)
		return rc;
	for (const yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
		const yaml_node_t *e = yaml_document_get_node(ld->doc, q->key);
		char path[224];

		if (strcmp((const char *)e->data.scalar.value, name) != 0)
			continue;
		snprintf(path, sizeof(path), "%s%s%.64s", prefix, *prefix ? "." : "", name);
		return fail(ld, k, path, "duplicate key (first at line %zu, column %zu)",
			    e->start_mark.line + 1, e->start_mark.column + 1);
	}
	return 0;
}

static int load_ports(struct loader *ld, const struct cfg_key *key, const yaml_node_t *item,
		      const char *path)
{
	const char *s = NULL;

	if (item->type != YAML_SCALAR_NODE || scalar_type(item) != ST_INT)
		return fail_type(ld, item, path, "a port number 1..65535");
	if (scalar_text(ld, item, path, &s))
		return -EINVAL;
	return located(ld, item, path, config_append_item(ld->cfg, key, s, ld->err));
}

static int endpoint_port(struct loader *ld, const yaml_node_t *node, const char *path,
			 uint16_t *port)
{
	const char *s = NULL;

	if (node->type != YAML_SCALAR_NODE || scalar_type(node) != ST_INT)
		return fail_type(ld, node, path, "a port number 1..65535");
	if (scalar_text(ld, node, path, &s))
		return -EINVAL;
	return located(ld, node, path, config_parse_port(s, port, ld->err));
}

/* outgoing.local[i] in its long form: {address: HOST, port: N, local_port: N}. */
static int load_endpoint_map(struct loader *ld, const struct cfg_key *key, const yaml_node_t *map,
			     const char *path)
{
	static const char *const fields[] = {"address", "port", "local_port"};
	const char *host = NULL;
	uint16_t port = 0, local_port = 0;
	char sub[224], checked[256];
	int rc;

	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		const yaml_node_t *k = yaml_document_get_node(ld->doc, p->key);
		const yaml_node_t *v = yaml_document_get_node(ld->doc, p->value);
		const char *name;

		rc = check_key(ld, map, p, path);
		if (rc)
			return rc;
		name = (const char *)k->data.scalar.value;
		snprintf(sub, sizeof(sub), "%s.%.32s", path, name);
		if (!strcmp(name, "address")) {
			rc = string_scalar(ld, v, sub, "a host name or IP address", &host);
			if (!rc && !*host)
				rc = fail(ld, v, sub,
					  "expected a host name or IP address, got \"\"");
		} else if (!strcmp(name, "port")) {
			rc = endpoint_port(ld, v, sub, &port);
		} else if (!strcmp(name, "local_port")) {
			rc = endpoint_port(ld, v, sub, &local_port);
		} else {
			const char *best = NULL;

			for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
				if (config_edit_distance(name, fields[i]) <= 2)
					best = fields[i];
			}
			if (best)
				rc = fail(ld, k, sub, "unknown key (did you mean '%s'?)", best);
			else
				rc = fail(ld, k, sub,
					  "unknown key (expected address, port, local_port)");
		}
		if (rc)
			return rc;
	}
	if (!host || !port)
		return fail(ld, map, path, "missing '%s' (an endpoint needs address and port)",
			    host ? "port" : "address");
	/* Check the host the same way as the short form does. */
	snprintf(sub, sizeof(sub), "%s%.128s%s:%u", strchr(host, ':') ? "[" : "", host,
		 strchr(host, ':') ? "]" : "", port);
	rc = config_parse_hostport(sub, checked, sizeof(checked), &port, ld->err);
	if (rc)
		return located(ld, map, path, rc);
	return located(
	    ld, map, path,
	    config_append_endpoint(config_field(ld->cfg, key), host, port, local_port, ld->err));
}

static int load_list(struct loader *ld, const struct cfg_key *key, const yaml_node_t *seq)
{
	char path[160];
	const char *s = NULL;
	int rc = 0;

	if (seq->type != YAML_SEQUENCE_NODE)
		return fail_type(ld, seq, key->path, "a list");
	config_clear_list(ld->cfg, key);
	for (yaml_node_item_t *it = seq->data.sequence.items.start;
	     it < seq->data.sequence.items.top && !rc; it++) {
		const yaml_node_t *item = yaml_document_get_node(ld->doc, *it);

		snprintf(path, sizeof(path), "%s[%td]", key->path,
			 it - seq->data.sequence.items.start);
		if (key->kind == CFG_PORTS) {
			rc = load_ports(ld, key, item, path);
		} else if (key->kind == CFG_ENDPOINTS && item->type == YAML_MAPPING_NODE) {
			rc = load_endpoint_map(ld, key, item, path);
		} else {
			const char *what = key->kind == CFG_ENDPOINTS ? "HOST:PORT or a mapping"
					   : key->kind == CFG_PATHS   ? "a path pattern"
								      : "a name pattern";

			rc = string_scalar(ld, item, path, what, &s);
			if (!rc)
				rc = located(ld, item, path,
					     config_append_item(ld->cfg, key, s, ld->err));
		}
	}
	return rc;
}

static int load_env_map(struct loader *ld, const struct cfg_key *key, const yaml_node_t *map)
{
	char path[160];
	int rc;

	if (map->type != YAML_MAPPING_NODE)
		return fail_type(ld, map, key->path, "a mapping of NAME: value");
	config_clear_list(ld->cfg, key);
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		const yaml_node_t *k = yaml_document_get_node(ld->doc, p->key);
		const yaml_node_t *v = yaml_document_get_node(ld->doc, p->value);
		const char *name, *value = NULL;

		rc = check_key(ld, map, p, key->path);
		if (rc)
			return rc;
		name = (const char *)k->data.scalar.value;
		snprintf(path, sizeof(path), "%s.%.64s", key->path, name);
		if (v->type != YAML_SCALAR_NODE || scalar_type(v) == ST_NULL)
			return fail_type(ld, v, path, "a value (text, number or boolean)");
		rc = scalar_text(ld, v, path, &value);
		if (rc)
			return rc;
		rc =
		    located(ld, k, path,
			    config_env_set(config_field(ld->cfg, key), name, value, true, ld->err));
		if (rc)
			return rc;
	}
	return 0;
}

static int load_scalar(struct loader *ld, const struct cfg_key *key, const yaml_node_t *node)
{
	const char *s = NULL;
	int rc;

	switch (key->kind) {
	case CFG_BOOL:
		if (node->type != YAML_SCALAR_NODE || scalar_type(node) != ST_BOOL)
			return fail_type(ld, node, key->path, "true or false");
		break;
	case CFG_MODE:
		if (node->type != YAML_SCALAR_NODE || scalar_type(node) == ST_NULL)
			return fail_type(ld, node, key->path, "one of mirror, steal");
		break;
	case CFG_CONNECT:
		if (node->type != YAML_SCALAR_NODE || scalar_type(node) == ST_NULL)
			return fail_type(ld, node, key->path, "one of port-forward, direct");
		break;
	default:
		rc = string_scalar(ld, node, key->path, "a string", &s);
		if (rc)
			return rc;
		if (!*s)
			return fail(ld, node, key->path, "expected a non-empty string, got \"\"");
		break;
	}
	rc = scalar_text(ld, node, key->path, &s);
	if (rc)
		return rc;
	return located(ld, node, key->path, config_store_scalar(ld->cfg, key, s, ld->err));
}

static int load_value(struct loader *ld, const struct cfg_key *key, const yaml_node_t *keynode,
		      const yaml_node_t *node)
{
	char what[64];
	int rc;

	switch (key->kind) {
	case CFG_SECTION:
		if (node->type != YAML_MAPPING_NODE) {
			snprintf(what, sizeof(what), "a mapping of %s keys", key->path);
			return fail_type(ld, node, key->path, what);
		}
		return load_mapping(ld, node, key->path);
	case CFG_PORTS:
	case CFG_ENDPOINTS:
	case CFG_GLOBS:
	case CFG_PATHS:
		return load_list(ld, key, node);
	case CFG_ENV_MAP:
		return load_env_map(ld, key, node);
	default:
		rc = load_scalar(ld, key, node);
		if (!rc && strncmp(key->path, "incoming.http_filter.", 21) == 0)
			ld->cfg->filter_mark = (struct bm_mark){keynode->start_mark.line + 1,
								keynode->start_mark.column + 1};
		return rc;
	}
}

static int load_mapping(struct loader *ld, const yaml_node_t *map, const char *prefix)
{
	char path[160], hint[160];
	int rc;

	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		const yaml_node_t *k = yaml_document_get_node(ld->doc, p->key);
		const yaml_node_t *v = yaml_document_get_node(ld->doc, p->value);
		const struct cfg_key *key;
		const char *name;

		rc = check_key(ld, map, p, prefix);
		if (rc)
			return rc;
		name = (const char *)k->data.scalar.value;
		snprintf(path, sizeof(path), "%s%s%.64s", prefix, *prefix ? "." : "", name);
		key = strlen(name) <= 64 ? config_key_find(path) : NULL;
		if (!key) {
			config_key_hint(prefix, name, hint, sizeof(hint));
			return fail(ld, k, path, "unknown key%s", hint);
		}
		rc = load_value(ld, key, k, v);
		if (rc)
			return rc;
	}
	return 0;
}

int config_load_buffer(const char *name, const char *buf, size_t len, struct bm_userconfig *cfg,
		       struct bm_error *err)
{
	struct loader ld = {.name = name, .cfg = cfg, .err = err};
	yaml_document_t doc;
	yaml_node_t *root;
	char *file;
	int rc;

	if (len > BM_CONFIG_MAX_FILE_SIZE)
		return config_err(err, "%s: file too large (%zu bytes, at most %u)", name, len,
				  BM_CONFIG_MAX_FILE_SIZE);
	rc = ynode_load(&doc, buf, len, name, err ? err->msg : NULL, err ? sizeof(err->msg) : 0);
	if (rc)
		return rc;
	ld.doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (!root || (root->type == YAML_SCALAR_NODE && scalar_type(root) == ST_NULL)) {
		rc = config_err(err,
				"%s:1:1: the file is empty (expected a mapping of keys such as "
				"'target' and 'incoming')",
				name);
		goto out_doc;
	}
	if (root->type != YAML_MAPPING_NODE) {
		rc = fail_type(&ld, root, "", "a mapping of keys at the top level");
		goto out_doc;
	}
	file = strdup(name);
	if (!file) {
		rc = -ENOMEM;
		goto out_doc;
	}
	free(cfg->file);
	cfg->file = file;
	rc = load_mapping(&ld, root, "");
out_doc:
	yaml_document_delete(&doc);
	return rc;
}

int config_load_file(const char *path, struct bm_userconfig *cfg, struct bm_error *err)
{
	char *buf = NULL;
	size_t len = 0;
	int rc;

	rc = readfile_at(AT_FDCWD, path, BM_CONFIG_MAX_FILE_SIZE, READFILE_REGULAR, &buf, &len);
	if (rc) {
		if (rc == -EFBIG)
			config_err(err, "%s: file too large (at most %u bytes)", path,
				   BM_CONFIG_MAX_FILE_SIZE);
		else if (rc == -EISDIR || rc == -EINVAL)
			config_err(err, "%s: not a regular file", path);
		else
			config_err(err, "%s: cannot open: %s", path, strerror(-rc));
		return rc;
	}
	rc = config_load_buffer(path, buf, len, cfg, err);
	free(buf);
	return rc;
}
