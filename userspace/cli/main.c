/* bpfmirror: the developer CLI; parses global flags and dispatches subcommands. */
#include "commands.h"
#include "log.h"
#include "protocol.h"

#include <stdio.h>
#include <string.h>

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command command_table[] = {
    {"help", cmd_help, "show this help"},
    {"attach", cmd_attach, "run a local command as a pod: its traffic, env, DNS and files"},
    {"version", cmd_version, "print the version and the protocol version"},
    {"verify-config", cmd_verify_config, "check a bpfmirror.yaml file and print its errors"},
    {"ls", cmd_ls, "list the targets of a namespace that can be attached to"},
    {"resolve", cmd_resolve, "show what a TARGET resolves to (pods, node agents) as JSON"},
    {"tap", cmd_tap, "mirror a pod's incoming packets into a pcap file (debugging)"},
    {NULL, NULL, NULL},
};

int cmd_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("usage: bpfmirror [-v|-vv] [-q] COMMAND [ARGS...]\n\ncommands:\n");
	for (const struct command *c = command_table; c->name; c++)
		printf("  %-16s %s\n", c->name, c->summary);
	printf("\nRun 'bpfmirror COMMAND --help' for a command's options.\n");
	return 0;
}

int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("bpfmirror %s (protocol %u)\n", BPFMIRROR_VERSION, BPFMIRROR_PROTOCOL_VERSION);
	return 0;
}

int main(int argc, char **argv)
{
	int i = 1;

	log_set_ident("bpfmirror");
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-v") == 0) {
			log_set_level(LOG_LVL_DEBUG > log_get_level() ? log_get_level() + 1
								      : LOG_LVL_DEBUG);
		} else if (strcmp(argv[i], "-vv") == 0) {
			log_set_level(LOG_LVL_DEBUG);
		} else if (strcmp(argv[i], "-q") == 0) {
			log_set_level(LOG_LVL_ERROR);
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			return cmd_help(0, NULL);
		} else if (strcmp(argv[i], "--version") == 0) {
			return cmd_version(0, NULL);
		} else {
			log_error("unknown option '%s' (see 'bpfmirror help')", argv[i]);
			return 2;
		}
	}
	log_capture_libbpf();
	if (i >= argc) {
		cmd_help(0, NULL);
		return 2;
	}
	for (const struct command *c = command_table; c->name; c++) {
		if (strcmp(c->name, argv[i]) == 0)
			return c->run(argc - i, argv + i);
	}
	log_error("unknown command '%s' (see 'bpfmirror help')", argv[i]);
	return 2;
}
