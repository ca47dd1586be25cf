/* Command-line options from one table: getopt_long's arrays and the usage text both come from it.
 */
#ifndef BPFMIRROR_OPTTAB_H
#define BPFMIRROR_OPTTAB_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

/*
 * A program (or subcommand) lists its options once:
 *
 *	static const struct opttab_opt opts[] = {
 *	    {"namespace", 'n', OPTTAB_SHORT, "NS", "the pod's namespace"},
 *	    {"steal", 's', 0, NULL, "take the connections instead of copying them"},
 *	    {0},
 *	};
 *	struct opttab t = {.opts = opts, .usage = "bpfmirror attach TARGET [OPTIONS]"};
 *	const char *arg;
 *	int id;
 *
 *	if (opttab_init(&t))
 *		return 2;
 *	while ((id = opttab_next(&t, argc, argv, &arg)) != -1)
 *		switch (id) { case 'n': ...; case '?': opttab_usage(&t, stderr); return 2; }
 *
 * Parsing stays a switch in the caller: options of this code base often do
 * more than store a value (append to a list, apply after a file, exit).
 */

#define OPTTAB_MAX 32

/* opttab_opt.flags */
#define OPTTAB_SHORT (1u << 0) /* id is a letter and also the short option: -n, --namespace */

struct opttab_opt {
	const char *name; /* long name without "--"; NULL: only the short form */
	int id;		  /* what opttab_next() returns, > 0; 0 ends the table */
	unsigned flags;	  /* OPTTAB_* */
	const char *arg;  /* the argument's name in the usage ("FILE"); NULL: takes none */
	const char *help; /* for the usage; may hold '\n' for more lines; NULL: not listed */
};

struct opttab {
	/* Set by the caller. */
	const struct opttab_opt *opts;
	const char *usage; /* the usage line after "usage: " */
	const char *about; /* printed after the options (may be NULL) */
	bool in_order;	   /* stop at the first non-option (getopt's '+') */

	/* Built by opttab_init(). */
	struct option longopts[OPTTAB_MAX + 1];
	char shortopts[2 + 2 * OPTTAB_MAX + 1];
};

/*
 * Builds the getopt_long arrays and resets getopt, so that a parse starts
 * again from argv[1]. Returns 0, -E2BIG for more than OPTTAB_MAX options or
 * -EINVAL for an entry with neither a long nor a short form, or a short
 * form that is not a letter or digit.
 */
int opttab_init(struct opttab *t);

/*
 * The next option: its id (with *arg its argument, or NULL), '?' for an
 * unknown option or a missing argument (getopt has printed why), -1 at the
 * first non-option argument (in_order) or the end; optind is then the index
 * of the first argument not parsed.
 */
int opttab_next(struct opttab *t, int argc, char **argv, const char **arg);

/* "usage: USAGE", one aligned line per listed option, then the about text. */
void opttab_usage(const struct opttab *t, FILE *f);

#endif
