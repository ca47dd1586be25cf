/* bpfmirror verify-config FILE: parse a config file and report its errors. */
#include "commands.h"
#include "log.h"

int cmd_verify_config(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	log_error("verify-config: not implemented yet");
	return 1;
}
