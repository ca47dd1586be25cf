/* bpfmirror-agent: the node daemon; parses flags and runs the agent loop. */
#include "log.h"
#include "protocol.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	log_set_ident("bpfmirror-agent");
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--version") == 0) {
			printf("bpfmirror-agent %s (protocol %u)\n", BPFMIRROR_VERSION,
			       BPFMIRROR_PROTOCOL_VERSION);
			return 0;
		}
	}
	log_error("agent: not implemented yet");
	return 1;
}
