/* Unit tests for the event loop: fd events, unwatch inside a batch, timers. */
#include "evloop.h"
#include "testutil.h"

#include <errno.h>
#include <unistd.h>

struct two {
	int a[2], b[2];
	int hits_a, hits_b;
};

static void on_a(struct evloop *loop, int fd, unsigned events, void *ctx)
{
	struct two *t = ctx;
	char c;

	ck_assert(events & EV_READ);
	ck_assert_int_eq(read(fd, &c, 1), 1);
	t->hits_a++;
	/* B is ready in the same batch: unwatching it must be safe. */
	evloop_unwatch(loop, t->b[0]);
}

static void on_b(struct evloop *loop, int fd, unsigned events, void *ctx)
{
	struct two *t = ctx;
	char c;

	(void)loop;
	(void)events;
	ck_assert_int_eq(read(fd, &c, 1), 1);
	t->hits_b++;
	evloop_unwatch(loop, t->a[0]);
}

START_TEST(unwatch_within_a_batch)
{
	struct evloop *loop = evloop_new();
	struct two t = {0};

	ck_assert_ptr_nonnull(loop);
	ck_assert_int_eq(pipe(t.a), 0);
	ck_assert_int_eq(pipe(t.b), 0);
	ck_assert_int_eq(evloop_watch(loop, t.a[0], EV_READ, on_a, &t), 0);
	ck_assert_int_eq(evloop_watch(loop, t.b[0], EV_READ, on_b, &t), 0);
	ck_assert_int_eq(write(t.a[1], "x", 1), 1);
	ck_assert_int_eq(write(t.b[1], "y", 1), 1);
	ck_assert_int_eq(evloop_run_once(loop, 100), 0);
	/* Whichever ran first removed the other before it ran. */
	ck_assert_int_eq(t.hits_a + t.hits_b, 1);
	ck_assert_int_eq(evloop_unwatch(loop, t.a[0]) + evloop_unwatch(loop, t.b[0]), -ENOENT);
	evloop_free(loop);
	close(t.a[0]);
	close(t.a[1]);
	close(t.b[0]);
	close(t.b[1]);
}
END_TEST

static int64_t count_three(struct evloop *loop, void *ctx)
{
	int *n = ctx;

	if (++*n == 3) {
		evloop_stop(loop);
		return -1;
	}
	return 1;
}

static int64_t never(struct evloop *loop, void *ctx)
{
	(void)loop;
	(void)ctx;
	ck_abort_msg("a cancelled timer ran");
	return -1;
}

START_TEST(timers_repeat_and_cancel)
{
	struct evloop *loop = evloop_new();
	int n = 0;
	struct ev_timer *t;

	ck_assert_ptr_nonnull(evloop_timer(loop, 1, count_three, &n));
	t = evloop_timer(loop, 2, never, NULL);
	evloop_timer_cancel(loop, t);
	ck_assert_int_eq(evloop_run(loop), 0);
	ck_assert_int_eq(n, 3);
	ck_assert(evloop_stopped(loop));
	evloop_free(loop);
}
END_TEST

START_TEST(watch_updates_and_errors)
{
	struct evloop *loop = evloop_new();
	struct two t = {0};

	ck_assert_int_eq(pipe(t.a), 0);
	ck_assert_int_eq(evloop_watch(loop, t.a[0], EV_READ, on_a, &t), 0);
	ck_assert_int_eq(evloop_watch(loop, t.a[0], 0, on_a, &t), 0); /* update, no events */
	ck_assert_int_eq(write(t.a[1], "x", 1), 1);
	ck_assert_int_eq(evloop_run_once(loop, 10), 0);
	ck_assert_int_eq(t.hits_a, 0);
	ck_assert_int_eq(evloop_watch(loop, -1, EV_READ, on_a, &t), -EBADF);
	evloop_free(loop);
	close(t.a[0]);
	close(t.a[1]);
}
END_TEST

static Suite *evloop_suite(void)
{
	Suite *s = suite_create("evloop");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, unwatch_within_a_batch);
	tcase_add_test(tc, timers_repeat_and_cancel);
	tcase_add_test(tc, watch_updates_and_errors);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(evloop_suite)
