/* Command-line options from one table: getopt_long's arrays and the usage text both come from it.
 */
#include "opttab.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

/* The option column is this wide; longer ones push their help to the next line. */
#define USAGE_COL 30

int opttab_init(struct opttab *t)
{
	size_t n = 0, nlong = 0, s = 0;

	/* '+': stop at the first non-option; ':' is not used, so getopt reports errors itself. */
	if (t->in_order)
		t->shortopts[s++] = '+';
	for (const struct opttab_opt *o = t->opts; o->id; o++, n++) {
		if (n == OPTTAB_MAX)
			return -E2BIG;
		if (o->id < 0 || (!o->name && !(o->flags & OPTTAB_SHORT)) || (o->name && !*o->name))
			return -EINVAL;
		if (o->flags & OPTTAB_SHORT) {
			if (o->id > 127 || !isalnum(o->id))
				return -EINVAL;
			t->shortopts[s++] = (char)o->id;
			if (o->arg)
				t->shortopts[s++] = ':';
		}
		if (!o->name)
			continue;
		t->longopts[nlong++] = (struct option){
		    .name = o->name,
		    .has_arg = o->arg ? required_argument : no_argument,
		    .flag = NULL,
		    .val = o->id,
		};
	}
	t->longopts[nlong] = (struct option){0};
	t->shortopts[s] = '\0';
	/* 0, not 1: glibc and musl then also forget the previous parse's mode ('+') and position.
	 */
	optind = 0;
	return 0;
}

int opttab_next(struct opttab *t, int argc, char **argv, const char **arg)
{
	int c = getopt_long(argc, argv, t->shortopts, t->longopts, NULL);

	*arg = c == -1 || c == '?' ? NULL : optarg;
	return c;
}

/* "  -n, --namespace NS", "      --steal" or "  -v"; returns the width printed. */
static int print_names(const struct opttab_opt *o, FILE *f)
{
	int w;

	if (!o->name)
		w = fprintf(f, "  -%c", o->id);
	else if (o->flags & OPTTAB_SHORT)
		w = fprintf(f, "  -%c, --%s", o->id, o->name);
	else
		w = fprintf(f, "      --%s", o->name);
	if (o->arg)
		w += fprintf(f, " %s", o->arg);
	return w;
}

/* The help text, its first line from the current column, the others under it. */
static void print_help(const char *help, int col, FILE *f)
{
	if (col >= USAGE_COL) {
		fputc('\n', f);
		col = 0;
	}
	fprintf(f, "%*s", USAGE_COL - col, "");
	for (const char *p = help; *p; p++) {
		fputc(*p, f);
		if (*p == '\n' && p[1])
			fprintf(f, "%*s", USAGE_COL, "");
	}
	fputc('\n', f);
}

void opttab_usage(const struct opttab *t, FILE *f)
{
	fprintf(f, "usage: %s\n", t->usage);
	for (const struct opttab_opt *o = t->opts; o->id; o++) {
		if (!o->help)
			continue;
		print_help(o->help, print_names(o, f), f);
	}
	if (t->about)
		fputs(t->about, f);
}
