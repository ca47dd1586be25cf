/* Fuzz target: the agent's policy parser on arbitrary bytes (a cluster's config file). */
// FUZZ_SOURCES: agent/policy/policy.c
// FUZZ_SOURCES: userspace/lib/regexcheck.c userspace/lib/yamlnode.c userspace/lib/readfile.c
#include "policy.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	struct policy *p = policy_parse((const char *)data, size, "fuzz", err, sizeof(err));

	if (p) {
		char why[256];
		policy_check_attach(p, "default", POLICY_STEAL, "X-Dev: alice", "", why,
				    sizeof(why));
		policy_path_allowed(p, "/var/run/secrets/token");
		policy_env_allowed(p, "API_TOKEN");
		policy_free(p);
	}
	return 0;
}
