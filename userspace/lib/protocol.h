/* Control-channel protocol constants shared by the CLI and the agent. */
#ifndef BPFMIRROR_PROTOCOL_H
#define BPFMIRROR_PROTOCOL_H

#define BPFMIRROR_PROTOCOL_VERSION 1u

#endif
