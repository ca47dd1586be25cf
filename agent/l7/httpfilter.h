/* Per-session HTTP request filters for filtered steal: header and path regexes. */
#ifndef BPFMIRROR_HTTPFILTER_H
#define BPFMIRROR_HTTPFILTER_H

#include "http1.h"
#include "regexcheck.h"

#include <stdbool.h>
#include <stddef.h>

/*
 * A request matches when every regex given matches (both, or the one given):
 *  - header: POSIX ERE, case-insensitive, searched in each header line
 *    rendered as "Name: value" (value without surrounding whitespace); one
 *    matching line is enough. Unanchored: use ^ and $ for whole lines.
 *  - path: POSIX ERE, case-sensitive (paths are), searched in the request's
 *    path and query ("/a/b?c=d"), also for absolute-form targets.
 */
struct httpfilter;

#define HTTPFILTER_MAX_REGEX REGEX_MAX_LEN /* bytes of one regex */

/*
 * Checks a filter without keeping it. NULL or "" means "not used", but one
 * of the two must be given. Returns 0 or -EINVAL with a message for humans
 * in err (which may be NULL), e.g. "header regex 'X-Dev: (a': parentheses
 * not balanced".
 */
int httpfilter_validate(const char *header_re, const char *path_re, char *err, size_t errlen);

/* Compiles a filter; returns NULL and sets errno (EINVAL with err filled, or ENOMEM). */
struct httpfilter *httpfilter_new(const char *header_re, const char *path_re, char *err,
				  size_t errlen);
void httpfilter_free(struct httpfilter *f);

/* True when the request head matches the filter. */
bool httpfilter_match(const struct httpfilter *f, const struct http1_head *h);

/* The regexes as given ("" when not used). */
const char *httpfilter_header_regex(const struct httpfilter *f);
const char *httpfilter_path_regex(const struct httpfilter *f);

#endif
