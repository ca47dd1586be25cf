/* A small epoll event loop: fd watchers and one-shot/periodic timers. */
#include "evloop.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

struct ev_watch {
	int fd; /* -1 once unwatched: freed after the current dispatch */
	unsigned events;
	ev_fd_cb cb;
	void *ctx;
	struct ev_watch *next;
};

struct ev_timer {
	int64_t due_ms;
	ev_timer_cb cb;
	void *ctx;
	bool cancelled;
	struct ev_timer *next;
};

struct evloop {
	int epfd;
	bool stop;
	struct ev_watch *watches;
	struct ev_watch *dead; /* unwatched during a dispatch, freed after it */
	struct ev_timer *timers;
};

int64_t evloop_now_ms(void)
{
	return (int64_t)(evloop_now_ns() / 1000000u);
}

uint64_t evloop_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct evloop *evloop_new(void)
{
	struct evloop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		return NULL;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		int err = errno;
		free(loop);
		errno = err;
		return NULL;
	}
	return loop;
}

void evloop_free(struct evloop *loop)
{
	if (!loop)
		return;
	while (loop->watches) {
		struct ev_watch *w = loop->watches;
		loop->watches = w->next;
		free(w);
	}
	while (loop->dead) {
		struct ev_watch *w = loop->dead;
		loop->dead = w->next;
		free(w);
	}
	while (loop->timers) {
		struct ev_timer *t = loop->timers;
		loop->timers = t->next;
		free(t);
	}
	close(loop->epfd);
	free(loop);
}

static struct ev_watch *find_watch(struct evloop *loop, int fd)
{
	for (struct ev_watch *w = loop->watches; w; w = w->next)
		if (w->fd == fd)
			return w;
	return NULL;
}

static uint32_t to_epoll(unsigned events)
{
	return ((events & EV_READ) ? EPOLLIN | EPOLLRDHUP : 0) |
	       ((events & EV_WRITE) ? EPOLLOUT : 0);
}

int evloop_watch(struct evloop *loop, int fd, unsigned events, ev_fd_cb cb, void *ctx)
{
	struct ev_watch *w = find_watch(loop, fd);
	struct epoll_event ev = {.events = to_epoll(events)};

	if (w) {
		ev.data.ptr = w;
		if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
			return -errno;
		w->events = events;
		w->cb = cb;
		w->ctx = ctx;
		return 0;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	/* The event carries the watch itself: no lookup per event. */
	ev.data.ptr = w;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int err = -errno;
		free(w);
		return err;
	}
	w->fd = fd;
	w->events = events;
	w->cb = cb;
	w->ctx = ctx;
	w->next = loop->watches;
	loop->watches = w;
	return 0;
}

int evloop_unwatch(struct evloop *loop, int fd)
{
	for (struct ev_watch **pp = &loop->watches; *pp; pp = &(*pp)->next) {
		struct ev_watch *w = *pp;
		if (w->fd != fd)
			continue;
		*pp = w->next;
		/* Events of this batch may still name it: free it after dispatch. */
		w->fd = -1;
		w->next = loop->dead;
		loop->dead = w;
		/* The fd may already be closed: that removed it from epoll. */
		epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
		return 0;
	}
	return -ENOENT;
}

struct ev_timer *evloop_timer(struct evloop *loop, int64_t delay_ms, ev_timer_cb cb, void *ctx)
{
	struct ev_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->due_ms = evloop_now_ms() + delay_ms;
	t->cb = cb;
	t->ctx = ctx;
	t->next = loop->timers;
	loop->timers = t;
	return t;
}

void evloop_timer_cancel(struct evloop *loop, struct ev_timer *t)
{
	(void)loop;
	if (t)
		t->cancelled = true;
}

static int next_timeout(struct evloop *loop, int cap_ms)
{
	int64_t now = evloop_now_ms();
	int64_t best = cap_ms < 0 ? INT64_MAX : cap_ms;

	for (struct ev_timer *t = loop->timers; t; t = t->next) {
		int64_t d;
		if (t->cancelled)
			continue;
		d = t->due_ms - now;
		if (d < 0)
			d = 0;
		if (d < best)
			best = d;
	}
	return best == INT64_MAX ? -1 : (int)best;
}

static void run_timers(struct evloop *loop)
{
	int64_t now = evloop_now_ms();
	struct ev_timer **pp = &loop->timers;

	for (struct ev_timer *t = loop->timers; t; t = t->next) {
		if (!t->cancelled && t->due_ms <= now) {
			int64_t again = t->cb(loop, t->ctx);
			if (again < 0)
				t->cancelled = true;
			else
				t->due_ms = now + again;
		}
	}
	/* Reap cancelled timers only here, so callbacks may cancel any timer. */
	while (*pp) {
		struct ev_timer *t = *pp;
		if (t->cancelled) {
			*pp = t->next;
			free(t);
		} else {
			pp = &t->next;
		}
	}
}

int evloop_run_once(struct evloop *loop, int timeout_ms)
{
	struct epoll_event evs[64];
	int n = epoll_wait(loop->epfd, evs, 64, next_timeout(loop, timeout_ms));

	if (n < 0) {
		if (errno == EINTR)
			return 0;
		return -errno;
	}
	for (int i = 0; i < n; i++) {
		struct ev_watch *w = evs[i].data.ptr;
		unsigned events = 0;
		if (w->fd < 0)
			continue; /* unwatched by an earlier callback of this batch */
		if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			events |= EV_READ;
		if (evs[i].events & (EPOLLOUT | EPOLLERR))
			events |= EV_WRITE;
		w->cb(loop, w->fd, events, w->ctx);
	}
	while (loop->dead) {
		struct ev_watch *w = loop->dead;
		loop->dead = w->next;
		free(w);
	}
	run_timers(loop);
	return 0;
}

int evloop_run(struct evloop *loop)
{
	int err = 0;

	while (!loop->stop && !err)
		err = evloop_run_once(loop, -1);
	return err;
}

void evloop_stop(struct evloop *loop)
{
	loop->stop = true;
}

bool evloop_stopped(const struct evloop *loop)
{
	return loop->stop;
}
