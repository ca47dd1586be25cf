/* Non-blocking TCP listeners of the agent (control port, metrics port) from "IP:PORT" text. */
#ifndef BPFMIRROR_TCPLISTEN_H
#define BPFMIRROR_TCPLISTEN_H

/*
 * Opens a non-blocking, close-on-exec IPv4 TCP listener on ADDR: "IP:PORT",
 * "*:PORT" or a bare "PORT" (every address). Returns the fd, -EINVAL for an
 * address that does not parse, or another -errno.
 */
int tcplisten_open(const char *addr, int backlog);

#endif
