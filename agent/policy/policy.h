/* The cluster's policy as the agent enforces it (format: docs/policy.md). */
#ifndef BPFMIRROR_POLICY_H
#define BPFMIRROR_POLICY_H

#include <stdbool.h>
#include <stddef.h>

struct policy_list {
	char **items;
	size_t count;
};

struct policy {
	struct policy_list ns_allow; /* empty: every namespace not denied */
	struct policy_list ns_deny;
	bool mirror_allowed;
	bool steal_allowed;
	bool steal_whole_connection;
	char *require_header;	      /* "" = none */
	char *require_header_pattern; /* "" = any value */
	struct policy_list denied_paths;
	bool files_write; /* may sessions write files in pods (fs.read_write)? */
	struct policy_list denied_env;
};

/* The policy without a file: everything allowed except secrets' paths. */
struct policy *policy_default(void);
/*
 * Loads a policy file. On error returns NULL, sets errno and writes
 * "file:line:col: key: problem" into err.
 */
struct policy *policy_load(const char *path, char *err, size_t errlen);
struct policy *policy_parse(const char *text, size_t len, const char *name, char *err,
			    size_t errlen);
void policy_free(struct policy *p);

enum policy_mode {
	POLICY_MIRROR,
	POLICY_STEAL,
};

/*
 * May a session attach to a pod in NS with MODE and these filters (either may
 * be NULL or "")? Returns 0, or -EACCES with the reason in why.
 */
int policy_check_attach(const struct policy *p, const char *ns, enum policy_mode mode,
			const char *header_regex, const char *path_regex, char *why, size_t whylen);
/*
 * The value of the policy's required header that a filter declares: with
 * require_header NAME, the header regex must be "NAME: VALUE" (optionally
 * "^...$"), VALUE a literal (special characters escaped with a backslash)
 * that fully matches require_header_pattern. The router then steals only
 * requests whose NAME header is exactly VALUE (route_table_require_header).
 * Writes VALUE (or "" when the policy requires no header) and returns 0, or
 * -EACCES with the reason in why.
 */
int policy_declared_value(const struct policy *p, const char *header_regex, char *value,
			  size_t valuelen, char *why, size_t whylen);
bool policy_env_allowed(const struct policy *p, const char *name);
bool policy_path_allowed(const struct policy *p, const char *path);

/* fnmatch(3), where a pattern ending in slash-star-star also matches the directory. */
bool policy_glob_match(const char *pattern, const char *s);

#endif
