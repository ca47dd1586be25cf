/* The cluster's policy as the agent enforces it (format: docs/policy.md). */
#include "policy.h"
#include "readfile.h"
#include "regexcheck.h"
#include "yamlnode.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

/* The policy comes from a ConfigMap: a few KiB; anything near this is not one. */
#define POLICY_MAX_FILE (1u << 20)

static const char *const default_denied_paths[] = {
    "/var/run/secrets/**", "/run/secrets/**", "/proc/**", "/sys/**", "/dev/**", NULL,
};

static void list_free(struct policy_list *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->count = 0;
}

static int list_add(struct policy_list *l, const char *s)
{
	char **items = realloc(l->items, (l->count + 1) * sizeof(*items));

	if (!items)
		return -ENOMEM;
	l->items = items;
	l->items[l->count] = strdup(s);
	if (!l->items[l->count])
		return -ENOMEM;
	l->count++;
	return 0;
}

struct policy *policy_default(void)
{
	struct policy *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->mirror_allowed = true;
	p->steal_allowed = true;
	p->steal_whole_connection = true;
	p->require_header = strdup("");
	p->require_header_pattern = strdup("");
	if (!p->require_header || !p->require_header_pattern)
		goto fail;
	for (size_t i = 0; default_denied_paths[i]; i++)
		if (list_add(&p->denied_paths, default_denied_paths[i]))
			goto fail;
	return p;
fail:
	policy_free(p);
	errno = ENOMEM;
	return NULL;
}

void policy_free(struct policy *p)
{
	if (!p)
		return;
	list_free(&p->ns_allow);
	list_free(&p->ns_deny);
	list_free(&p->denied_paths);
	list_free(&p->denied_env);
	free(p->require_header);
	free(p->require_header_pattern);
	free(p);
}

/* ---- parsing ------------------------------------------------------------ */

struct pctx {
	yaml_document_t *doc;
	const char *name;
	char *err;
	size_t errlen;
};

static int perr(struct pctx *c, yaml_node_t *n, const char *key, const char *what)
{
	snprintf(c->err, c->errlen, "%s:%zu:%zu: %s: %s", c->name, ynode_line(n), ynode_col(n), key,
		 what);
	return -EINVAL;
}

static int get_bool(struct pctx *c, yaml_node_t *n, const char *key, bool *out)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE)
		return perr(c, n, key, "expected true or false");
	v = (const char *)n->data.scalar.value;
	if (strcmp(v, "true") == 0)
		*out = true;
	else if (strcmp(v, "false") == 0)
		*out = false;
	else
		return perr(c, n, key, "expected true or false");
	return 0;
}

static int get_str(struct pctx *c, yaml_node_t *n, const char *key, char **out)
{
	char *v;

	if (n->type != YAML_SCALAR_NODE)
		return perr(c, n, key, "expected a string");
	v = strdup((const char *)n->data.scalar.value);
	if (!v)
		return -ENOMEM;
	free(*out);
	*out = v;
	return 0;
}

static int get_list(struct pctx *c, yaml_node_t *n, const char *key, struct policy_list *l)
{
	list_free(l);
	/* "key:" with nothing after it is an empty list. */
	if (n->type == YAML_SCALAR_NODE && n->data.scalar.length == 0)
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return perr(c, n, key, "expected a list of strings");
	ynode_for_each_item(n, it)
	{
		yaml_node_t *e = ynode_at(c->doc, *it);
		const char *v = ynode_scalar(e);

		if (!v)
			return perr(c, e, key, "expected a list of strings");
		if (list_add(l, v))
			return -ENOMEM;
	}
	return 0;
}

struct field {
	const char *section; /* NULL: top level */
	const char *key;
	char kind; /* b=bool s=string l=list v=version */
	size_t off;
};

#define F(sec, k, kind, member)                                                                    \
	{                                                                                          \
		sec, k, kind, offsetof(struct policy, member)                                      \
	}
static const struct field fields[] = {
    {NULL, "version", 'v', 0},
    F("namespaces", "allow", 'l', ns_allow),
    F("namespaces", "deny", 'l', ns_deny),
    F("mirror", "allowed", 'b', mirror_allowed),
    F("steal", "allowed", 'b', steal_allowed),
    F("steal", "allow_whole_connection", 'b', steal_whole_connection),
    F("steal", "require_header", 's', require_header),
    F("steal", "require_header_pattern", 's', require_header_pattern),
    F("files", "denied_paths", 'l', denied_paths),
    F("files", "allow_write", 'b', files_write),
    F("env", "denied_names", 'l', denied_env),
};
#undef F

static int set_field(struct pctx *c, struct policy *p, const char *sec, yaml_node_t *kn,
		     yaml_node_t *vn)
{
	const char *key = (const char *)kn->data.scalar.value;
	char path[128];

	snprintf(path, sizeof(path), "%s%s%s", sec ? sec : "", sec ? "." : "", key);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const struct field *f = &fields[i];
		void *dst = (char *)p + f->off;
		if ((f->section == NULL) != (sec == NULL) || (sec && strcmp(f->section, sec)) ||
		    strcmp(f->key, key))
			continue;
		switch (f->kind) {
		case 'b':
			return get_bool(c, vn, path, dst);
		case 's':
			return get_str(c, vn, path, dst);
		case 'l':
			return get_list(c, vn, path, dst);
		default:
			if (vn->type != YAML_SCALAR_NODE ||
			    strcmp((const char *)vn->data.scalar.value, "1"))
				return perr(c, vn, path, "expected 1 (the only policy version)");
			return 0;
		}
	}
	return perr(c, kn, path, "unknown key");
}

static int walk_map(struct pctx *c, struct policy *p, yaml_node_t *map, const char *sec)
{
	if (map->type != YAML_MAPPING_NODE)
		return perr(c, map, sec ? sec : "policy", "expected a mapping");
	ynode_for_each_pair(map, pr)
	{
		yaml_node_t *kn = ynode_at(c->doc, pr->key);
		yaml_node_t *vn = ynode_at(c->doc, pr->value);
		int err;
		if (!kn || !vn || kn->type != YAML_SCALAR_NODE)
			return perr(c, kn, sec ? sec : "policy", "expected a key");
		if (!sec && vn->type == YAML_MAPPING_NODE)
			err = walk_map(c, p, vn, (const char *)kn->data.scalar.value);
		else
			err = set_field(c, p, sec, kn, vn);
		if (err)
			return err;
	}
	return 0;
}

/* An HTTP header name (RFC 9110 token) or "" (no requirement). */
static bool header_name_ok(const char *s)
{
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= 'A' && *s <= 'Z') || strchr("!#$%&'*+-.^_`|~", *s)))
			return false;
	return true;
}

struct policy *policy_parse(const char *text, size_t len, const char *name, char *err,
			    size_t errlen)
{
	struct pctx c = {.name = name, .err = err, .errlen = errlen};
	yaml_document_t doc;
	struct policy *p = policy_default();
	yaml_node_t *root;
	char why[200];
	int rc;

	if (!p)
		return NULL;
	rc = ynode_load(&doc, text, len, name, err, errlen);
	if (rc)
		goto out;
	c.doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (root)
		rc = walk_map(&c, p, root, NULL);
	if (!rc && !header_name_ok(p->require_header)) {
		snprintf(err, errlen, "%s: steal.require_header: '%s' is not a header name", name,
			 p->require_header);
		rc = -EINVAL;
	}
	if (!rc && p->require_header_pattern[0] &&
	    regex_check(p->require_header_pattern, 0, why, sizeof(why))) {
		snprintf(err, errlen, "%s: steal.require_header_pattern: %s", name, why);
		rc = -EINVAL;
	}
	yaml_document_delete(&doc);
out:
	if (rc) {
		policy_free(p);
		errno = -rc;
		return NULL;
	}
	return p;
}

struct policy *policy_load(const char *path, char *err, size_t errlen)
{
	struct policy *p;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	rc = readfile_at(AT_FDCWD, path, POLICY_MAX_FILE, READFILE_REGULAR, &buf, &len);
	if (rc) {
		snprintf(err, errlen, "%s: %s", path,
			 rc == -EFBIG ? "larger than 1 MiB" : strerror(-rc));
		errno = -rc;
		return NULL;
	}
	p = policy_parse(buf, len, path, err, errlen);
	free(buf);
	return p;
}

/* ---- checks ------------------------------------------------------------- */

bool policy_glob_match(const char *pattern, const char *s)
{
	size_t pl = strlen(pattern);

	if (pl >= 3 && strcmp(pattern + pl - 3, "/**") == 0) {
		/* "dir" + slash-star-star: the directory itself and all beneath. */
		if (strncmp(pattern, s, pl - 3) == 0 && (s[pl - 3] == '\0' || s[pl - 3] == '/'))
			return true;
	}
	return fnmatch(pattern, s, 0) == 0;
}

static bool list_match(const struct policy_list *l, const char *s)
{
	for (size_t i = 0; i < l->count; i++)
		if (policy_glob_match(l->items[i], s))
			return true;
	return false;
}

/* A character ERE treats specially outside brackets: the declared value must escape it. */
static bool is_meta(char c)
{
	return c && strchr(".[]()*+?{}|^$\\", c) != NULL;
}

/*
 * The literal after "NAME:" and blanks, up to an optional final "$"; a
 * backslash before a special character stands for that character. False
 * when anything in it is not literal (the filter would match other values).
 */
static bool unescape_literal(const char *s, char *out, size_t outlen)
{
	size_t n = 0;

	for (; *s; s++) {
		if (s[0] == '$' && s[1] == '\0')
			break;
		if (s[0] == '\\' && is_meta(s[1]))
			s++;
		else if (is_meta(s[0]))
			return false;
		if (n + 1 >= outlen)
			return false;
		out[n++] = *s;
	}
	out[n] = '\0';
	return n > 0 && out[0] != ' ' && out[n - 1] != ' ' && out[n - 1] != '\t';
}

/* Does VALUE fully match the policy's require_header_pattern (empty: any)? */
static int value_allowed(const struct policy *p, const char *value)
{
	char anchored[REGEX_MAX_LEN + 8];
	regex_t re;
	int rc;

	if (!p->require_header_pattern[0])
		return 0;
	snprintf(anchored, sizeof(anchored), "^(%s)$", p->require_header_pattern);
	if (regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB))
		return -EINVAL;
	rc = regexec(&re, value, 0, NULL, 0) == 0 ? 0 : -EACCES;
	regfree(&re);
	return rc;
}

int policy_declared_value(const struct policy *p, const char *header_regex, char *value,
			  size_t valuelen, char *why, size_t n)
{
	size_t hl = strlen(p->require_header);
	const char *v = header_regex ? header_regex : "";
	int rc;

	value[0] = '\0';
	if (!p->require_header[0])
		return 0;
	if (*v == '^')
		v++;
	if (strncasecmp(v, p->require_header, hl) != 0 || v[hl] != ':') {
		snprintf(why, n,
			 "the policy requires a header filter on '%s' (--header '^%s: VALUE$')",
			 p->require_header, p->require_header);
		return -EACCES;
	}
	for (v += hl + 1; *v == ' ' || *v == '\t'; v++)
		;
	if (!unescape_literal(v, value, valuelen)) {
		value[0] = '\0';
		snprintf(why, n,
			 "the policy requires one literal value for header '%s' "
			 "(--header '^%s: VALUE$', special characters escaped with \\)",
			 p->require_header, p->require_header);
		return -EACCES;
	}
	rc = value_allowed(p, value);
	if (rc) {
		snprintf(why, n, "the '%s' value '%s' must match '%s'", p->require_header, value,
			 p->require_header_pattern);
		value[0] = '\0';
	}
	return rc;
}

static int check_header(const struct policy *p, const char *header_regex, char *why, size_t n)
{
	char value[REGEX_MAX_LEN + 1];

	return policy_declared_value(p, header_regex, value, sizeof(value), why, n);
}

int policy_check_attach(const struct policy *p, const char *ns, enum policy_mode mode,
			const char *header_regex, const char *path_regex, char *why, size_t whylen)
{
	bool filtered = (header_regex && header_regex[0]) || (path_regex && path_regex[0]);

	if (list_match(&p->ns_deny, ns) || (p->ns_allow.count && !list_match(&p->ns_allow, ns))) {
		snprintf(why, whylen, "the policy does not allow attaching to namespace '%s'", ns);
		return -EACCES;
	}
	if (mode == POLICY_MIRROR) {
		if (!p->mirror_allowed) {
			snprintf(why, whylen, "the policy does not allow mirror sessions");
			return -EACCES;
		}
		return 0;
	}
	if (!p->steal_allowed) {
		snprintf(why, whylen, "the policy does not allow steal sessions");
		return -EACCES;
	}
	if (!filtered && !p->steal_whole_connection) {
		snprintf(why, whylen,
			 "the policy allows only filtered steal: add --header or --path");
		return -EACCES;
	}
	if (filtered && p->require_header[0])
		return check_header(p, header_regex, why, whylen);
	return 0;
}

bool policy_env_allowed(const struct policy *p, const char *name)
{
	return !list_match(&p->denied_env, name);
}

bool policy_path_allowed(const struct policy *p, const char *path)
{
	return !list_match(&p->denied_paths, path);
}
