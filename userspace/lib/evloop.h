/* A small epoll event loop: fd watchers and one-shot/periodic timers. */
#ifndef BPFMIRROR_EVLOOP_H
#define BPFMIRROR_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>

#define EV_READ	 0x1u
#define EV_WRITE 0x2u

struct evloop;
struct ev_timer;

typedef void (*ev_fd_cb)(struct evloop *loop, int fd, unsigned events, void *ctx);
/* Returns the delay in ms until the next run, or a negative value to stop. */
typedef int64_t (*ev_timer_cb)(struct evloop *loop, void *ctx);

struct evloop *evloop_new(void);
void evloop_free(struct evloop *loop);

/* Watches fd for EV_READ/EV_WRITE; a second call for the same fd updates it. */
int evloop_watch(struct evloop *loop, int fd, unsigned events, ev_fd_cb cb, void *ctx);
int evloop_unwatch(struct evloop *loop, int fd);

struct ev_timer *evloop_timer(struct evloop *loop, int64_t delay_ms, ev_timer_cb cb, void *ctx);
void evloop_timer_cancel(struct evloop *loop, struct ev_timer *t);

/* Monotonic clock in ms and ns. */
int64_t evloop_now_ms(void);
uint64_t evloop_now_ns(void);

/* Runs until evloop_stop() or a fatal epoll error; returns 0 or -errno. */
int evloop_run(struct evloop *loop);
/* Runs one iteration waiting at most timeout_ms (-1: until an event). */
int evloop_run_once(struct evloop *loop, int timeout_ms);
void evloop_stop(struct evloop *loop);
bool evloop_stopped(const struct evloop *loop);

#endif
