/* Internal to the config module: the table of keys shared by the YAML loader and the flags. */
#ifndef BPFMIRROR_CONFIG_PRIV_H
#define BPFMIRROR_CONFIG_PRIV_H

#include "config.h"

enum cfg_kind {
	CFG_SECTION = 0, /* a mapping of further keys */
	CFG_STRING,	 /* char *, checked by cfg_key.check */
	CFG_BOOL,	 /* bool */
	CFG_MODE,	 /* enum bm_incoming_mode */
	CFG_CONNECT,	 /* enum bm_agent_connect */
	CFG_PORTS,	 /* struct bm_portlist */
	CFG_ENDPOINTS,	 /* struct bm_endpoint_list */
	CFG_GLOBS,	 /* struct bm_strlist of name globs */
	CFG_PATHS,	 /* struct bm_strlist of absolute path patterns */
	CFG_ENV_MAP,	 /* struct bm_env_map */
};

struct cfg_key {
	const char *path; /* full dotted path: "incoming.http_filter.header" */
	enum cfg_kind kind;
	size_t off; /* offset of the field in struct bm_userconfig */
	int (*check)(const char *s, struct bm_error *err); /* CFG_STRING only */
};

/* Every key, sections before their children; ends with a NULL path. */
extern const struct cfg_key config_keys[];

const struct cfg_key *config_key_find(const char *path);
/*
 * Writes a hint for an unknown key NAME under PREFIX ("" for the top level)
 * into buf: " (did you mean 'ports'?)", " ('header' belongs under
 * 'incoming.http_filter')", or "" when nothing is close.
 */
void config_key_hint(const char *prefix, const char *name, char *buf, size_t len);
/* Optimal string alignment distance, case-insensitive; capped at 100. */
unsigned int config_edit_distance(const char *a, const char *b);

/* Field accessors and item-wise stores, each checking its value. */
void *config_field(struct bm_userconfig *cfg, const struct cfg_key *k);
int config_store_scalar(struct bm_userconfig *cfg, const struct cfg_key *k, const char *s,
			struct bm_error *err);
int config_parse_bool(const char *s, bool *out, struct bm_error *err);
/* Empties a list or map key and marks it as set (an explicit "[]"). */
void config_clear_list(struct bm_userconfig *cfg, const struct cfg_key *k);
/* Appends one item given as a string (a port, "host:port", a glob, a path). */
int config_append_item(struct bm_userconfig *cfg, const struct cfg_key *k, const char *s,
		       struct bm_error *err);
int config_append_endpoint(struct bm_endpoint_list *l, const char *host, uint16_t port,
			   uint16_t local_port, struct bm_error *err);
/* Adds or replaces one env.override entry; dup_is_error for the file's duplicates. */
int config_env_set(struct bm_env_map *m, const char *name, const char *value, bool dup_is_error,
		   struct bm_error *err);

/* Prefixes err->msg with the formatted text (used to add "file:l:c: key: "). */
void config_err_prefix(struct bm_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
