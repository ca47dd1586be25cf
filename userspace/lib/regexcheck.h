/*
 * One validator for the HTTP filter regexes (header and path), used wherever
 * one is accepted: the config file, the CLI's flags, the agent's Attach
 * handler and the policy's header pattern. The agent is the trust boundary,
 * so the same limits hold there as in the CLI: a length cap, no
 * back-references (exponential matching) and an estimate of the compiled
 * size (glibc expands counted and stacked repetitions).
 */
#ifndef BPFMIRROR_REGEXCHECK_H
#define BPFMIRROR_REGEXCHECK_H

#include <stddef.h>

/* Longest filter regex, its estimated compiled size and its group nesting. */
#define REGEX_MAX_LEN	512
#define REGEX_MAX_SIZE	2000
#define REGEX_MAX_DEPTH 16

/*
 * Checks RE as POSIX ERE compiled with CFLAGS (REG_ICASE and the like; ERE
 * and NOSUB are implied). Returns 0, or -EINVAL with a message in ERR that
 * names the problem (not the regex: callers prefix what it is). An empty RE
 * is -EINVAL: callers decide whether "no filter" is allowed before calling.
 */
int regex_check(const char *re, int cflags, char *err, size_t errlen);

#endif
