/* libFuzzer target: arbitrary bytes through the bpfmirror.yaml loader and the flag setters. */
// FUZZ_SOURCES: userspace/config/config.c userspace/config/config_values.c
// FUZZ_SOURCES: userspace/config/config_yaml.c
// FUZZ_SOURCES: userspace/lib/regexcheck.c userspace/lib/yamlnode.c userspace/lib/readfile.c
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define check(cond) check_at((cond), #cond, __LINE__)

static void check_at(int cond, const char *what, int line)
{
	if (cond)
		return;
	fprintf(stderr, "fuzz_config.c:%d: check failed: %s\n", line, what);
	abort();
}

/* What any loaded config must satisfy, whatever the input was. */
static void check_invariants(const struct bm_userconfig *cfg)
{
	char summary[256];

	check(cfg->incoming.mode == BM_MODE_MIRROR || cfg->incoming.mode == BM_MODE_STEAL);
	check(cfg->incoming.ports.n <= BM_CONFIG_MAX_LIST);
	for (size_t i = 0; i < cfg->incoming.ports.n; i++)
		check(cfg->incoming.ports.v[i] != 0);
	for (size_t i = 0; i < cfg->outgoing.local.n; i++)
		check(cfg->outgoing.local.v[i].host[0] && cfg->outgoing.local.v[i].port &&
		      cfg->outgoing.local.v[i].local_port);
	for (size_t i = 0; i < cfg->fs.read_only.n; i++)
		check(cfg->fs.read_only.v[i][0] == '/');
	check(cfg->env.override.n <= BM_CONFIG_MAX_LIST);
	config_summary(cfg, summary, sizeof(summary));
	check(strlen(summary) < sizeof(summary));
	if (cfg->incoming.header)
		check(config_check_regex(cfg->incoming.header, true, NULL) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bm_userconfig cfg;
	struct bm_error err;
	char line[256];
	const char *nl;
	int rc;

	if (config_defaults(&cfg))
		return 0;
	memset(&err, 0x5a, sizeof(err)); /* the loader must always terminate msg */
	rc = config_load_buffer("fuzz.yaml", (const char *)data, size, &cfg, &err);
	check(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
	if (rc == -EINVAL) {
		check(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
		check(strncmp(err.msg, "fuzz.yaml", 9) == 0);
	}
	if (rc == 0) {
		check_invariants(&cfg);
		rc = config_validate(&cfg, &err);
		check(rc == 0 || rc == -EINVAL);
	}
	/* The first line, as a --set KEY=VALUE flag on top of whatever loaded. */
	nl = memchr(data, '\n', size);
	if (size && (nl ? (size_t)(nl - (const char *)data) : size) < sizeof(line)) {
		size_t n = nl ? (size_t)(nl - (const char *)data) : size;

		memcpy(line, data, n);
		line[n] = '\0';
		rc = config_apply_assignment(&cfg, line, &err);
		check(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
		check_invariants(&cfg);
	}
	config_free(&cfg);
	return 0;
}
