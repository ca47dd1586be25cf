/* libFuzzer target: arbitrary HTTP/2 bytes from a client and from upstreams through the router.
 */
// FUZZ_SOURCES: agent/l7/http1.c agent/l7/httpfilter.c agent/l7/router.c agent/l7/h2proxy.c
// FUZZ_SOURCES: userspace/lib/regexcheck.c
// FUZZ_SOURCES: userspace/lib/bytequeue.c
#include "h2proxy.h"
#include "router.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_UP	64
#define SEP	"UPSTREAM:"
#define SEP_LEN 9u

static bool open_up[MAX_UP];
static size_t out_bytes;

static int w_client(void *ctx, const void *d, size_t n)
{
	(void)ctx;
	(void)d;
	out_bytes += n;
	return 0;
}
static void shut_client(void *ctx)
{
	(void)ctx;
}
static void close_client(void *ctx, bool reset)
{
	(void)ctx;
	(void)reset;
}
static int up_open(void *ctx, uint32_t up, uint32_t target)
{
	(void)ctx;
	(void)target;
	if (up >= MAX_UP)
		return -1;
	open_up[up] = true;
	return 0;
}
static int up_write(void *ctx, uint32_t up, const void *d, size_t n)
{
	(void)ctx;
	(void)up;
	(void)d;
	out_bytes += n;
	return 0;
}
static void up_shut(void *ctx, uint32_t up)
{
	(void)ctx;
	(void)up;
}
static void up_close(void *ctx, uint32_t up, bool reset)
{
	(void)ctx;
	(void)reset;
	if (up < MAX_UP)
		open_up[up] = false;
}

static const struct router_ops ops = {w_client, shut_client, close_client, up_open,
				      up_write, up_shut,     up_close};

/*
 * Input: client bytes after the preface, then (after the first SEP, which
 * real frames rarely contain) bytes every opened upstream sends after an
 * empty SETTINGS frame. Both are
 * fed in pieces whose sizes come from the data itself.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t settings[9] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
	static struct route_table *t;
	const uint8_t *cut = memmem(data, size, SEP, SEP_LEN);
	size_t csize = cut ? (size_t)(cut - data) : size;
	struct router *r;

	if (!t) {
		t = route_table_new();
		route_table_add(t, 10, httpfilter_new("^x-dev: a$", NULL, NULL, 0));
		route_table_add(t, 20, httpfilter_new(NULL, "^/b", NULL, 0));
	}
	memset(open_up, 0, sizeof(open_up));
	r = router_new(&ops, NULL, t, NULL);
	if (!r)
		return 0;
	router_client_data(r, H2PROXY_PREFACE, H2PROXY_PREFACE_LEN);
	for (size_t off = 0; off < csize && !router_done(r);) {
		size_t n = 1 + data[off] % 97;
		n = n > csize - off ? csize - off : n;
		router_client_data(r, data + off, n);
		off += n;
	}
	for (uint32_t up = 1; cut && up < MAX_UP && !router_done(r); up++) {
		if (!open_up[up])
			continue;
		router_upstream_data(r, up, settings, sizeof(settings));
		router_upstream_data(r, up, cut + SEP_LEN, size - csize - SEP_LEN);
	}
	if (!router_done(r))
		router_client_eof(r);
	router_free(r);
	return 0;
}
