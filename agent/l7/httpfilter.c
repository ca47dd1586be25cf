/* Compiles and matches the header and path regexes of filtered-steal sessions. */
#include "httpfilter.h"

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct httpfilter {
	char *header_src;
	char *path_src;
	bool has_header;
	bool has_path;
	regex_t header;
	regex_t path;
};

/* Scratch space for rendering a line; longer lines use the heap. */
#define RENDER_STACK 2048

static bool given(const char *re)
{
	return re && re[0] != '\0';
}

/*
 * The agent is the trust boundary: every filter passes the same validator as
 * in the CLI (length, no back-references, which make glibc's matcher
 * backtrack, and the estimated compiled size) before it is compiled here.
 */
static int compile_one(regex_t *rx, const char *what, const char *re, int cflags, char *err,
		       size_t errlen)
{
	char why[256];
	int rc;

	rc = regex_check(re, cflags, why, sizeof(why));
	if (!rc) {
		rc = regcomp(rx, re, cflags | REG_EXTENDED | REG_NOSUB);
		if (rc == REG_ESPACE)
			return -ENOMEM;
		if (rc) {
			regerror(rc, rx, why, sizeof(why));
			rc = -EINVAL;
		}
	}
	if (rc && err && errlen)
		snprintf(err, errlen, "%s regex '%.64s%s': %s", what, re,
			 strlen(re) > 64 ? "..." : "", why);
	return rc;
}

struct httpfilter *httpfilter_new(const char *header_re, const char *path_re, char *err,
				  size_t errlen)
{
	struct httpfilter *f;
	int rc = -ENOMEM;

	if (err && errlen)
		err[0] = '\0';
	if (!given(header_re) && !given(path_re)) {
		if (err && errlen)
			snprintf(err, errlen,
				 "a filter needs a header regex, a path regex or both");
		errno = EINVAL;
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		goto err;
	f->header_src = strdup(given(header_re) ? header_re : "");
	f->path_src = strdup(given(path_re) ? path_re : "");
	if (!f->header_src || !f->path_src)
		goto err_free;
	if (given(header_re)) {
		rc = compile_one(&f->header, "header", header_re, REG_ICASE, err, errlen);
		if (rc)
			goto err_free;
		f->has_header = true;
	}
	if (given(path_re)) {
		rc = compile_one(&f->path, "path", path_re, 0, err, errlen);
		if (rc)
			goto err_free;
		f->has_path = true;
	}
	return f;

err_free:
	httpfilter_free(f);
err:
	errno = -rc;
	return NULL;
}

void httpfilter_free(struct httpfilter *f)
{
	if (!f)
		return;
	if (f->has_header)
		regfree(&f->header);
	if (f->has_path)
		regfree(&f->path);
	free(f->header_src);
	free(f->path_src);
	free(f);
}

int httpfilter_validate(const char *header_re, const char *path_re, char *err, size_t errlen)
{
	struct httpfilter *f = httpfilter_new(header_re, path_re, err, errlen);

	if (!f)
		return -errno;
	httpfilter_free(f);
	return 0;
}

/* Matches rx against the concatenation a + b + c, NUL-terminated in scratch space. */
static bool match3(const regex_t *rx, struct http1_str a, struct http1_str b, struct http1_str c)
{
	char stack[RENDER_STACK];
	size_t n = a.len + b.len + c.len;
	char *s = n < sizeof(stack) ? stack : malloc(n + 1);
	bool hit;

	if (!s)
		return false; /* out of memory: the request goes to the app */
	memcpy(s, a.p, a.len);
	memcpy(s + a.len, b.p, b.len);
	memcpy(s + a.len + b.len, c.p, c.len);
	s[n] = '\0';
	hit = regexec(rx, s, 0, NULL, 0) == 0;
	if (s != stack)
		free(s);
	return hit;
}

bool httpfilter_match(const struct httpfilter *f, const struct http1_head *h)
{
	static const struct http1_str sep = {": ", 2}, none = {"", 0};
	unsigned i;

	if (f->has_path && !match3(&f->path, http1_request_path(h), none, none))
		return false;
	if (!f->has_header)
		return true;
	/*
	 * A NUL inside a header cannot reach here (the parser rejects control
	 * bytes), so the rendered line is exactly what the regex sees.
	 */
	for (i = 0; i < h->nheaders; i++)
		if (match3(&f->header, h->headers[i].name, sep, h->headers[i].value))
			return true;
	return false;
}

const char *httpfilter_header_regex(const struct httpfilter *f)
{
	return f->header_src;
}

const char *httpfilter_path_regex(const struct httpfilter *f)
{
	return f->path_src;
}
