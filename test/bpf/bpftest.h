/* Shared set-up of the BPF tests: a test data plane, program runs, stats deltas, addresses. */
#ifndef BPFMIRROR_TEST_BPFTEST_H
#define BPFMIRROR_TEST_BPFTEST_H

#include "datapath.h"
#include "pktgen.h"
#include "unit/testutil.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* tc verdicts the programs return (TC_ACT_UNSPEC, TC_ACT_SHOT, TC_ACT_REDIRECT). */
#define ACT_NEXT     (-1)
#define ACT_DROP     2
#define ACT_REDIRECT 7

/*
 * Options of a test data plane: a 1 MiB ring and a small flow table.
 * PROG_RUN_ONLY: the programs are only run with BPF_PROG_RUN, so no tun
 * device and no scan of the node's links for stale filters.
 */
static inline struct datapath_opts bpftest_opts(bool prog_run_only)
{
	struct datapath_opts o = DATAPATH_OPTS_DEFAULT;

	o.ring_bytes = 1 << 20;
	o.flow_table_size = 1024;
	o.no_tun = prog_run_only;
	o.no_stale_cleanup = prog_run_only;
	return o;
}

/* Opens the data plane or fails the test. */
static inline struct datapath *bpftest_open(const struct datapath_opts *o)
{
	struct datapath *dp = datapath_open(o);

	ck_assert_msg(dp != NULL, "datapath_open: %s", strerror(errno));
	return dp;
}

/* Runs the program of DIR once on BUF (output bytes into OUT if given); returns its verdict. */
static inline int bpftest_prog_run(struct datapath *dp, enum bm_dir dir, const uint8_t *buf,
				   size_t len, uint8_t *out, size_t outcap)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = buf, .data_size_in = (uint32_t)len,
		    .data_out = out, .data_size_out = (uint32_t)outcap, .repeat = 1);
	int err = bpf_prog_test_run_opts(datapath_prog_fd(dp, dir), &o);

	ck_assert_msg(err == 0, "prog_run(len %zu): %d", len, err);
	return (int)o.retval;
}

/* Packets counted under reason R since BEFORE was read. */
static inline uint64_t bpftest_delta(struct datapath *dp, const struct bm_stat *before,
				     enum bm_reason r)
{
	struct bm_stat now[BM_R_MAX];

	ck_assert_int_eq(datapath_stats(dp, now), 0);
	return now[r].packets - before[r].packets;
}

/* Parses an address or fails the test. */
static inline struct datapath_ip bpftest_ip(const char *s)
{
	struct datapath_ip a;

	ck_assert_int_eq(datapath_ip_parse(s, &a), 0);
	return a;
}

/* The flow table's key for F (as the programs write it). */
static inline void bpftest_flow_key(const struct pg_flow *f, struct bm_flow_key *k)
{
	memset(k, 0, sizeof(*k));
	k->family = f->family == AF_INET ? BM_AF_INET : BM_AF_INET6;
	k->proto = f->proto;
	k->sport = htons(f->sport);
	k->dport = htons(f->dport);
	inet_pton(f->family, f->src, k->saddr);
	inet_pton(f->family, f->dst, k->daddr);
}

/*
 * The fixture of the verdict tests: a data plane opened for BPF_PROG_RUN per
 * test (bpftest_setup / bpftest_teardown), its stats before the test, and an
 * output buffer for the programs' packets.
 */
static struct datapath *dp __attribute__((unused));
static struct bm_stat before[BM_R_MAX] __attribute__((unused));
static uint8_t out[2048] __attribute__((unused));

static inline void bpftest_setup(void)
{
	struct datapath_opts o = bpftest_opts(true);

	dp = bpftest_open(&o);
	ck_assert_int_eq(datapath_stats(dp, before), 0);
}

static inline void bpftest_teardown(void)
{
	datapath_close(dp);
	dp = NULL;
}

/* Packets counted under reason R since bpftest_setup(). */
static inline uint64_t delta(enum bm_reason r)
{
	return bpftest_delta(dp, before, r);
}

/* Runs the program of DIR on one generated packet (output bytes in out); its verdict. */
static inline int run_pkt(enum bm_dir dir, const struct pg_flow *f, uint8_t flags, size_t payload)
{
	static uint8_t buf[2048];
	size_t len = pg_build(buf, f, flags, payload);

	return bpftest_prog_run(dp, dir, buf, len, out, sizeof(out));
}

#endif
