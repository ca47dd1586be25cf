/* Parsers and checks for single config values (modes, ports, addresses, targets, regexes). */
#include "config_priv.h"
#include "regexcheck.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int config_err(struct bm_error *err, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

void config_err_prefix(struct bm_error *err, const char *fmt, ...)
{
	char buf[sizeof(err->msg)];
	size_t n, rest;
	va_list ap;
	int len;

	if (!err)
		return;
	va_start(ap, fmt);
	len = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	n = len < 0 ? 0 : (size_t)len >= sizeof(buf) ? sizeof(buf) - 1 : (size_t)len;
	/* Keep the old message after the prefix, cut to what still fits. */
	rest = strnlen(err->msg, sizeof(err->msg) - 1);
	if (rest > sizeof(buf) - 1 - n)
		rest = sizeof(buf) - 1 - n;
	memcpy(buf + n, err->msg, rest);
	buf[n + rest] = '\0';
	memcpy(err->msg, buf, sizeof(err->msg));
}

const char *config_mode_name(enum bm_incoming_mode mode)
{
	return mode == BM_MODE_STEAL ? "steal" : "mirror";
}

const char *config_connect_name(enum bm_agent_connect connect)
{
	return connect == BM_CONNECT_DIRECT ? "direct" : "port-forward";
}

int config_parse_mode(const char *s, enum bm_incoming_mode *out, struct bm_error *err)
{
	if (strcmp(s, "mirror") == 0)
		*out = BM_MODE_MIRROR;
	else if (strcmp(s, "steal") == 0)
		*out = BM_MODE_STEAL;
	else
		return config_err(err, "expected one of mirror, steal, got \"%s\"", s);
	return 0;
}

int config_parse_connect(const char *s, enum bm_agent_connect *out, struct bm_error *err)
{
	if (strcmp(s, "port-forward") == 0)
		*out = BM_CONNECT_PORT_FORWARD;
	else if (strcmp(s, "direct") == 0)
		*out = BM_CONNECT_DIRECT;
	else
		return config_err(err, "expected one of port-forward, direct, got \"%s\"", s);
	return 0;
}

/* YAML 1.2 core schema booleans; "yes"/"on" are strings there, so not here either. */
int config_parse_bool(const char *s, bool *out, struct bm_error *err)
{
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
		*out = true;
	else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
		*out = false;
	else
		return config_err(err, "expected true or false, got \"%s\"", s);
	return 0;
}

int config_parse_port(const char *s, uint16_t *out, struct bm_error *err)
{
	unsigned long v = 0;
	const char *p = s;

	if (!*p)
		return config_err(err, "expected a port number 1..65535, got \"\"");
	for (; *p; p++) {
		if (!isdigit((unsigned char)*p) || v > 65535)
			return config_err(err, "expected a port number 1..65535, got \"%s\"", s);
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v < 1 || v > 65535)
		return config_err(err, "port out of range (expected 1..65535), got %s", s);
	*out = (uint16_t)v;
	return 0;
}

static bool host_char_ok(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_';
}

static bool ipv6_char_ok(char c)
{
	return isxdigit((unsigned char)c) || c == ':' || c == '.';
}

int config_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port,
			  struct bm_error *err)
{
	const char *h = s, *hend, *colon;
	bool v6 = false;

	if (*s == '[') {
		h = s + 1;
		hend = strchr(h, ']');
		if (!hend || hend[1] != ':')
			return config_err(err, "expected [IPV6]:PORT, got \"%s\"", s);
		colon = hend + 1;
		v6 = true;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return config_err(err, "expected HOST:PORT, got \"%s\"", s);
		hend = colon;
		if (memchr(s, ':', (size_t)(colon - s)))
			return config_err(err, "write IPv6 addresses as [ADDR]:PORT, got \"%s\"",
					  s);
	}
	if (hend == h)
		return config_err(err, "expected HOST:PORT with a host, got \"%s\"", s);
	if ((size_t)(hend - h) >= hostlen || hend - h > 253)
		return config_err(err, "host name too long in \"%s\"", s);
	for (const char *c = h; c < hend; c++) {
		if (v6 ? !ipv6_char_ok(*c) : !host_char_ok(*c))
			return config_err(err, "invalid character '%c' in host of \"%s\"", *c, s);
	}
	if (config_parse_port(colon + 1, port, err))
		return config_err(err, "expected HOST:PORT with a port 1..65535, got \"%s\"", s);
	memcpy(host, h, (size_t)(hend - h));
	host[hend - h] = '\0';
	return 0;
}

/* Kubernetes object names: DNS-1123 subdomains (max 253) or labels (max 63, no dots). */
static bool dns_name_ok(const char *s, size_t len, size_t max, bool dots)
{
	if (len == 0 || len > max)
		return false;
	if (!isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[len - 1]))
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || c == '-' ||
		      (dots && c == '.')))
			return false;
	}
	return true;
}

static const struct {
	const char *alias;
	const char *kind;
} target_kinds[] = {
    {"pod", "pod"},
    {"po", "pod"},
    {"pods", "pod"},
    {"deployment", "deployment"},
    {"deploy", "deployment"},
    {"deployments", "deployment"},
    {"statefulset", "statefulset"},
    {"sts", "statefulset"},
    {"statefulsets", "statefulset"},
    {"replicaset", "replicaset"},
    {"rs", "replicaset"},
    {"replicasets", "replicaset"},
};

int config_parse_target(const char *s, struct bm_target *out, struct bm_error *err)
{
	const char *slash = strchr(s, '/');
	const char *name, *rest;
	size_t klen, nlen;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (!slash)
		return config_err(err,
				  "expected KIND/NAME (KIND: pod, deployment, statefulset, "
				  "replicaset), got \"%s\"",
				  s);
	klen = (size_t)(slash - s);
	for (i = 0; i < sizeof(target_kinds) / sizeof(target_kinds[0]); i++) {
		if (strlen(target_kinds[i].alias) == klen &&
		    strncmp(s, target_kinds[i].alias, klen) == 0)
			break;
	}
	if (i == sizeof(target_kinds) / sizeof(target_kinds[0]))
		return config_err(err,
				  "unknown kind \"%.*s\" (expected pod, deployment, statefulset or "
				  "replicaset)",
				  (int)(klen > 32 ? 32 : klen), s);
	snprintf(out->kind, sizeof(out->kind), "%s", target_kinds[i].kind);
	name = slash + 1;
	rest = strchr(name, '/');
	nlen = rest ? (size_t)(rest - name) : strlen(name);
	if (!dns_name_ok(name, nlen, 253, true))
		return config_err(err,
				  "invalid name in target \"%s\" (lower-case letters, digits, "
				  "'-' and '.')",
				  s);
	memcpy(out->name, name, nlen);
	if (!rest)
		return 0;
	if (strncmp(rest, "/container/", 11) != 0)
		return config_err(err, "expected KIND/NAME or KIND/NAME/container/NAME, got \"%s\"",
				  s);
	rest += 11;
	if (!dns_name_ok(rest, strlen(rest), 63, false))
		return config_err(err, "invalid container name in target \"%s\"", s);
	snprintf(out->container, sizeof(out->container), "%s", rest);
	return 0;
}

int config_check_regex(const char *re, bool icase, struct bm_error *err)
{
	char why[sizeof(err->msg)];
	int rc = regex_check(re, icase ? REG_ICASE : 0, why, sizeof(why));

	if (rc == -EINVAL)
		return config_err(err, "%s", why);
	return rc;
}

unsigned int config_edit_distance(const char *a, const char *b)
{
	unsigned int d[65][65];
	size_t la = strlen(a), lb = strlen(b);

	if (la > 64 || lb > 64)
		return 100;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (unsigned int)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (unsigned int)j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			char ca = (char)tolower((unsigned char)a[i - 1]);
			char cb = (char)tolower((unsigned char)b[j - 1]);
			unsigned int best = d[i - 1][j - 1] + (ca != cb);

			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a[i - 2]) == cb && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

bool config_env_selected(const struct bm_userconfig *cfg, const char *name)
{
	bool in = false;

	for (size_t i = 0; i < cfg->env.include.n && !in; i++)
		in = fnmatch(cfg->env.include.v[i], name, 0) == 0;
	for (size_t i = 0; i < cfg->env.exclude.n && in; i++)
		in = fnmatch(cfg->env.exclude.v[i], name, 0) != 0;
	return in;
}

/* A pattern covers the paths it matches and everything below them. */
bool config_path_matches(const char *pattern, const char *path)
{
	char pat[4096], buf[4096];
	size_t plen = strlen(pattern), len = strlen(path);

	if (plen >= sizeof(pat) || len >= sizeof(buf) || path[0] != '/')
		return false;
	memcpy(pat, pattern, plen + 1);
	/* "/etc/app/" written with a trailing slash means the directory itself. */
	while (plen > 1 && pat[plen - 1] == '/')
		pat[--plen] = '\0';
	if (strcmp(pat, "/") == 0)
		return true;
	memcpy(buf, path, len + 1);
	for (;;) {
		char *slash;

		if (fnmatch(pat, buf, FNM_PATHNAME) == 0)
			return true;
		slash = strrchr(buf, '/');
		if (!slash || slash == buf)
			return false;
		*slash = '\0';
	}
}
