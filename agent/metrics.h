/* Prometheus /metrics, /healthz and /readyz of the agent on their own port. */
#ifndef BPFMIRROR_METRICS_H
#define BPFMIRROR_METRICS_H

#include <stddef.h>

struct agent;
struct metrics_server;

/* Listens on addr ("IP:PORT"); NULL with errno on failure. */
struct metrics_server *metrics_start(struct agent *ag, const char *addr);
void metrics_stop(struct metrics_server *m);

/* Renders the Prometheus text exposition into buf; returns its length. */
size_t metrics_render(const struct agent *ag, char *buf, size_t len);

#endif
