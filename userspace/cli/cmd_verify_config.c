/* bpfmirror verify-config FILE...: parse config files and report their first error. */
#include "commands.h"
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
	fprintf(out, "usage: bpfmirror verify-config [-q] FILE...\n"
		     "\n"
		     "Checks bpfmirror.yaml files against the same rules attach uses.\n"
		     "Prints \"FILE: ok\" and a summary for a valid file, or the first error\n"
		     "as FILE:LINE:COLUMN: KEY: problem.\n"
		     "\n"
		     "  -q, --quiet   print errors only\n"
		     "  -h, --help    show this help\n"
		     "\n"
		     "Exit status: 0 all valid, 1 an error in a file, 2 usage error.\n"
		     "Reference: docs/config.md; editor schema: schemas/bpfmirror.schema.json\n");
}

static int verify_one(const char *path, bool quiet)
{
	struct bm_userconfig cfg;
	struct bm_error err = {{0}};
	char summary[256];
	int rc;

	rc = config_defaults(&cfg);
	if (rc) {
		fprintf(stderr, "%s: %s\n", path, strerror(-rc));
		return 1;
	}
	rc = config_load_file(path, &cfg, &err);
	if (!rc)
		rc = config_validate(&cfg, &err);
	if (rc) {
		fprintf(stderr, "%s\n", rc == -ENOMEM ? strerror(ENOMEM) : err.msg);
		config_free(&cfg);
		return 1;
	}
	if (!quiet) {
		config_summary(&cfg, summary, sizeof(summary));
		printf("%s: ok (%s)\n", path, summary);
	}
	config_free(&cfg);
	return 0;
}

int cmd_verify_config(int argc, char **argv)
{
	bool quiet = false, files_only = false;
	int first = 0, status = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (files_only || a[0] != '-' || a[1] == '\0') {
			if (!first)
				first = i;
			continue;
		}
		if (first) {
			fprintf(stderr, "bpfmirror verify-config: options go before files ('%s')\n",
				a);
			return 2;
		}
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			quiet = true;
		} else if (!strcmp(a, "--")) {
			files_only = true;
		} else {
			fprintf(stderr, "bpfmirror verify-config: unknown option '%s'\n", a);
			usage(stderr);
			return 2;
		}
	}
	if (!first) {
		fprintf(stderr, "bpfmirror verify-config: no FILE given\n");
		usage(stderr);
		return 2;
	}
	for (int i = first; i < argc; i++) {
		if (verify_one(argv[i], quiet))
			status = 1;
	}
	return status;
}
