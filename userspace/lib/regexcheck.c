/* The one check of a filter regex's length, features and compiled cost. */
#include "regexcheck.h"

#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The ']' that closes the bracket expression opened at P, or NULL when none does. */
static const char *bracket_end(const char *p)
{
	p++;
	if (*p == '^')
		p++;
	if (*p == ']')
		p++;
	while (*p && *p != ']') {
		/* [:class:], [.coll.] and [=equiv=] may hold a ']'. */
		if (*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
			const char *end = strchr(p + 2, p[1]);

			p = end && end[1] == ']' ? end + 1 : p;
		}
		p++;
	}
	return *p ? p : NULL;
}

/*
 * The interval "{m}", "{m,}" or "{m,n}" at *PP: how many copies glibc makes
 * (at least 1), with *PP moved to its last character; 0 when '{' starts no
 * interval, -E2BIG over REGEX_MAX_SIZE.
 */
static long interval_count(const char **pp)
{
	const char *p = *pp;
	unsigned long lo, hi;
	char *end;

	if (!isdigit((unsigned char)p[1]))
		return 0;
	lo = strtoul(p + 1, &end, 10);
	hi = lo;
	if (*end == ',')
		hi = isdigit((unsigned char)end[1]) ? strtoul(end + 1, &end, 10) : lo + 1;
	if (hi < lo)
		hi = lo;
	if (hi > REGEX_MAX_SIZE)
		return -E2BIG;
	if (hi == 0)
		hi = 1;
	*pp = *end ? end : end - 1;
	return (long)hi;
}

/*
 * glibc compiles "x+" as "xx*" and "x{m,n}" as n copies of x, so nested or
 * stacked repetitions ("a++++", "((a{9}){9}){9}") grow the compiled form
 * exponentially. Estimate the size the same
 * way and refuse what would be large. Back-references make matching
 * exponential, so they are refused too. Returns 0, -E2BIG or -ENOTSUP.
 */
static int regex_shape(const char *re)
{
	size_t total[REGEX_MAX_DEPTH + 1] = {0}, last[REGEX_MAX_DEPTH + 1] = {0};
	int depth = 0;

	for (const char *p = re; *p; p++) {
		size_t atom = 1;

		switch (*p) {
		case '\\':
			if (p[1] >= '1' && p[1] <= '9')
				return -ENOTSUP;
			if (p[1])
				p++;
			break;
		case '[':
			/* A bracket expression is one atom. */
			p = bracket_end(p);
			if (!p)
				return 0; /* unbalanced: regcomp reports it */
			break;
		case '(':
			if (++depth > REGEX_MAX_DEPTH)
				return -E2BIG;
			total[depth] = last[depth] = 0;
			continue;
		case ')':
			if (depth == 0)
				break;
			atom = total[depth--];
			break;
		case '|':
			last[depth] = 0;
			continue;
		case '*':
		case '?':
			continue;
		case '+':
			total[depth] += last[depth];
			last[depth] *= 2;
			goto check;
		case '{': {
			long n = interval_count(&p);

			if (n < 0)
				return (int)n;
			if (n == 0)
				break;
			total[depth] += last[depth] * (size_t)(n - 1);
			last[depth] *= (size_t)n;
			goto check;
		}
		default:
			break;
		}
		total[depth] += atom;
		last[depth] = atom;
	check:
		if (total[depth] > REGEX_MAX_SIZE || last[depth] > REGEX_MAX_SIZE)
			return -E2BIG;
	}
	return 0;
}

int regex_check(const char *re, int cflags, char *err, size_t errlen)
{
	char why[200];
	regex_t rx;
	int rc;

	if (!re || !*re) {
		snprintf(err, errlen, "expected a non-empty regular expression");
		return -EINVAL;
	}
	if (strlen(re) > REGEX_MAX_LEN) {
		snprintf(err, errlen, "regular expression longer than %d characters",
			 REGEX_MAX_LEN);
		return -EINVAL;
	}
	rc = regex_shape(re);
	if (rc == -ENOTSUP) {
		snprintf(err, errlen, "back-references (\\1..\\9) are not supported in filters");
		return -EINVAL;
	}
	if (rc) {
		snprintf(err, errlen,
			 "regular expression too complex (nested or stacked repetitions would "
			 "compile to more than %d nodes)",
			 REGEX_MAX_SIZE);
		return -EINVAL;
	}
	rc = regcomp(&rx, re, REG_EXTENDED | REG_NOSUB | cflags);
	if (rc == REG_ESPACE)
		return -ENOMEM;
	if (rc) {
		regerror(rc, &rx, why, sizeof(why));
		snprintf(err, errlen, "invalid regular expression \"%.200s\": %s", re, why);
		return -EINVAL;
	}
	regfree(&rx);
	return 0;
}
