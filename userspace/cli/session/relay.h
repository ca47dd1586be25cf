/* Byte relay between two non-blocking sockets on the event loop (outgoing.local endpoints). */
#ifndef BPFMIRROR_RELAY_H
#define BPFMIRROR_RELAY_H

#include "evloop.h"

#include <stdint.h>

struct relay;

/*
 * Relays bytes both ways between A (accepted in the twin) and B (connecting
 * to the developer's local endpoint), with a bounded buffer per direction,
 * half-closes passed on, and frees itself (closing both fds) when both
 * directions are done or either fails. Returns 0 or -errno (then the caller
 * still owns and closes the fds).
 */
int relay_start(struct evloop *loop, int a, int b);

#endif
