/* The bpfmirror.yaml configuration: the model, its defaults, loading and flag overrides. */
#ifndef BPFMIRROR_CONFIG_H
#define BPFMIRROR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * How the pieces fit (docs/config.md is the user-facing reference):
 *
 *	struct bm_userconfig cfg;
 *	struct bm_error err;
 *
 *	config_defaults(&cfg);                        built-in defaults
 *	config_load_file("bpfmirror.yaml", &cfg, &err)  file values replace them
 *	config_set_option(&cfg, "incoming.mode", "steal", &err)   flags last
 *	config_validate(&cfg, &err)                    checks across keys
 *	...
 *	config_free(&cfg);
 *
 * Every function returns 0 or a negative errno (-EINVAL for a bad value,
 * -ENOENT/-EACCES... for a file that cannot be read, -ENOMEM). On failure
 * err->msg holds one line for humans, e.g.
 *	bpfmirror.yaml:4:9: incoming.mode: expected one of mirror, steal, got "mirorr"
 * err may be NULL. On failure the config is still valid to use or free, but
 * it may hold a part of the file's values.
 */

#define BM_CONFIG_DEFAULT_FILE "bpfmirror.yaml"
/* Limits that keep a hostile or broken file from costing much. */
#define BM_CONFIG_MAX_FILE_SIZE (1u << 20)
#define BM_CONFIG_MAX_LIST	256

struct bm_error {
	char msg[512];
};

enum bm_incoming_mode {
	BM_MODE_MIRROR = 0, /* copy of every new connection; the pod keeps serving */
	BM_MODE_STEAL,	    /* new connections (or filtered requests) go local */
};

enum bm_agent_connect {
	BM_CONNECT_PORT_FORWARD = 0, /* kubectl port-forward to the agent pod */
	BM_CONNECT_DIRECT,	     /* TCP straight to the agent's address */
};

/* A list of strings; set is false while the built-in default applies. */
struct bm_strlist {
	char **v;
	size_t n;
	bool set;
};

struct bm_portlist {
	uint16_t *v;
	size_t n;
	bool set; /* false: the container's declared ports */
};

/*
 * A cluster endpoint that the twin reaches on the developer's machine
 * instead: connections from the twin to host:port go to 127.0.0.1:local_port
 * on the developer's side. host is a name or an address as the app is
 * configured with it ("redis-main", "10.96.0.12", "::1").
 */
struct bm_endpoint {
	char *host;
	uint16_t port;
	uint16_t local_port; /* defaults to port */
};

struct bm_endpoint_list {
	struct bm_endpoint *v;
	size_t n;
};

struct bm_env_var {
	char *name;
	char *value;
};

struct bm_env_map {
	struct bm_env_var *v;
	size_t n;
};

/* Where a value came from, for errors found after loading (line 0: not a file). */
struct bm_mark {
	unsigned int line;
	unsigned int column;
};

/*
 * The developer's settings (bpfmirror.yaml plus flags). Named apart from
 * struct bm_config in bpf/bpfmirror_abi.h, the BPF programs' read-only data,
 * so that both headers can be included in one file.
 */
struct bm_userconfig {
	char *target;	  /* KIND/NAME[/container/NAME]; NULL: given on the command line */
	char *namespace;  /* NULL: the kubeconfig context's namespace */
	char *kubeconfig; /* NULL: $KUBECONFIG, then ~/.kube/config */
	char *context;	  /* NULL: the kubeconfig's current context */
	struct {
		enum bm_incoming_mode mode;
		struct bm_portlist ports;
		char *header; /* HTTP filter: POSIX ERE, case-insensitive, on "Name: value" */
		char *path;   /* HTTP filter: POSIX ERE on path and query */
	} incoming;
	struct {
		bool enabled;
		struct bm_endpoint_list local;
	} outgoing;
	struct {
		struct bm_strlist include; /* globs; default ["*"] */
		struct bm_strlist exclude; /* globs; default ["PATH", "HOME"] */
		struct bm_env_map override;
	} env;
	struct {
		struct bm_strlist read_only;  /* default (unset): ConfigMap/Secret mounts */
		struct bm_strlist read_write; /* default [] */
		struct bm_strlist local;      /* default [] */
	} fs;
	struct {
		char *address; /* host:port; NULL: discovered from the agent pod */
		enum bm_agent_connect connect;
	} agent;

	/* Provenance: the file loaded last, where its filter was, lists set by flags. */
	char *file;
	struct bm_mark filter_mark;
	uint32_t flag_lists; /* bit i: config key i was set by a flag (internal) */
};

/* A parsed target: "deployment/web/container/app" -> kind, name, container. */
struct bm_target {
	char kind[16];
	char name[254];
	char container[64]; /* "" when not given */
};

/*
 * Fills cfg with the built-in defaults (overwriting it: call config_free first
 * on a config that owns memory). Returns 0 or -ENOMEM.
 */
int config_defaults(struct bm_userconfig *cfg);
/* Frees everything cfg owns and leaves it zeroed. */
void config_free(struct bm_userconfig *cfg);

/*
 * Reads a YAML file on top of cfg (keys it names replace the current values;
 * lists are replaced, not merged). Errors start with "PATH:LINE:COLUMN: KEY: ".
 */
int config_load_file(const char *path, struct bm_userconfig *cfg, struct bm_error *err);
/* The same from memory; name is used in messages ("bpfmirror.yaml"). */
int config_load_buffer(const char *name, const char *buf, size_t len, struct bm_userconfig *cfg,
		       struct bm_error *err);

/*
 * Command-line overrides by key path, with the same checks as the file:
 *   config_set_option(cfg, "incoming.mode", "steal", err)
 *   config_set_option(cfg, "incoming.ports", "8080,9090", err)  replaces a list
 *   config_set_option(cfg, "env.override.LOG_LEVEL", "debug", err)
 * config_append_option() adds items to a list key (or one override), so
 * repeated flags such as "-p 80 -p 81" give [80, 81]: the first list flag
 * replaces the file's (or default) list, later ones append to it. config_apply_assignment()
 * takes "KEY=VALUE" (a generic --set flag). Errors read "KEY: problem".
 * Setting "" on a string key (target, namespace, kubeconfig, context,
 * incoming.http_filter.header/path, agent.address) resets it to its default.
 */
int config_set_option(struct bm_userconfig *cfg, const char *key, const char *value,
		      struct bm_error *err);
int config_append_option(struct bm_userconfig *cfg, const char *key, const char *value,
			 struct bm_error *err);
int config_apply_assignment(struct bm_userconfig *cfg, const char *assignment,
			    struct bm_error *err);

/*
 * Checks that need several keys, after the file and the flags: an HTTP
 * filter needs incoming.mode steal.
 */
int config_validate(const struct bm_userconfig *cfg, struct bm_error *err);

/* One line describing cfg for "verify-config" ("target pod/x, mirror ports 80, ..."). */
void config_summary(const struct bm_userconfig *cfg, char *buf, size_t len);

/* Value parsers shared by the loader, the flags and the attach command. */
int config_parse_mode(const char *s, enum bm_incoming_mode *out, struct bm_error *err);
int config_parse_connect(const char *s, enum bm_agent_connect *out, struct bm_error *err);
int config_parse_port(const char *s, uint16_t *out, struct bm_error *err);
/* "host:port", "[v6addr]:port"; host is copied into host (size hostlen). */
int config_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port,
			  struct bm_error *err);
int config_parse_target(const char *s, struct bm_target *out, struct bm_error *err);
/* Compiles and frees the regex to check it; icase for the header filter. */
int config_check_regex(const char *re, bool icase, struct bm_error *err);

/* Matching rules the consumers of env.* and fs.* share (see docs/config.md). */
bool config_env_selected(const struct bm_userconfig *cfg, const char *name);
bool config_path_matches(const char *pattern, const char *path);

const char *config_mode_name(enum bm_incoming_mode mode);
const char *config_connect_name(enum bm_agent_connect connect);

/* Formats err (if not NULL) and returns -EINVAL: "return config_err(err, ...);". */
int config_err(struct bm_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
