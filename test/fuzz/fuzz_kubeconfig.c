/* libFuzzer target: user-supplied kubeconfig YAML, TARGET strings and API JSON through their
 * parsers. */
// FUZZ_SOURCES: userspace/cli/kube/kubeconfig.c userspace/cli/kube/kube.c
// FUZZ_SOURCES: userspace/cli/kube/target.c userspace/lib/log.c
// FUZZ_SOURCES: userspace/lib/yamlnode.c userspace/lib/readfile.c
#include "kube.h"
#include "kubeconfig.h"
#include "log.h"
#include "target.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define check(cond) check_at((cond), #cond, __LINE__)

static void check_at(int cond, const char *what, int line)
{
	if (cond)
		return;
	fprintf(stderr, "fuzz_kubeconfig.c:%d: check failed: %s\n", line, what);
	abort();
}

/* Whatever the YAML, a resolved context has what a client needs, or an error says why. */
static void fuzz_kubeconfig(const char *buf, size_t len, const char *context)
{
	struct kube_err err = {0};
	struct kubeconfig *kc = kubeconfig_parse(buf, len, context, "/base", &err);

	if (!kc) {
		check(errno != 0);
		check(err.msg[0] != '\0');
		return;
	}
	check(kc->context && kc->cluster && kc->namespace && kc->server);
	check(strncmp(kc->server, "http", 4) == 0);
	check(!kc->ca_file || kc->ca_file[0] == '/' || strncmp(kc->ca_file, "/base/", 6) == 0);
	check(!kc->exec || kc->exec->command);
	kubeconfig_free(kc);
}

static void fuzz_target(const char *s)
{
	struct target_spec spec;
	struct kube_err err = {0};

	if (target_parse(s, &spec, &err) == 0) {
		check(spec.name[0] != '\0');
		check(strlen(spec.name) <= 253 && strlen(spec.container) <= 63);
	} else {
		check(err.msg[0] != '\0');
	}
}

/* API answers: a pod list for a deployment, and the same list as agents. */
static void fuzz_api_json(const char *buf, size_t len)
{
	static const char dep[] = "{\"metadata\":{\"name\":\"web\",\"uid\":\"d\"},\"spec\":{"
				  "\"selector\":{\"matchLabels\":{\"app\":\"web\"}}}}";
	struct target_spec spec = {.kind = TARGET_STATEFULSET, .name = "web"};
	struct kube_err err = {0};
	json_object *list = json_tokener_parse(buf), *d = json_tokener_parse(dep);
	struct target t;
	char sel[512], near[TARGET_NAME_MAX];

	(void)len;
	target_selector(list, sel, sizeof(sel), &err);
	target_suggest("web", list, near, sizeof(near));
	if (target_pick_pods(&spec, "ns", d, NULL, list, &t, &err) == 0) {
		json_object *j;

		check(t.n_pods > 0);
		for (size_t i = 0; i < t.n_pods; i++)
			target_set_agent(&t.pods[i], list, "bpfmirror", &err);
		j = target_to_json(&t);
		check(j != NULL);
		json_object_put(j);
		target_clear(&t);
	}
	spec.kind = TARGET_DEPLOYMENT;
	if (target_pick_pods(&spec, "ns", d, list, list, &t, &err) == 0)
		target_clear(&t);
	json_object_put(d);
	json_object_put(list);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1)
		return 0;
	log_set_level(LOG_LVL_ERROR);
	/* A NUL-terminated copy: the YAML reader gets a length, the others strings. */
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 4) {
	case 0:
		fuzz_kubeconfig(s, size - 1, NULL);
		break;
	case 1:
		fuzz_kubeconfig(s, size - 1, "dev");
		break;
	case 2:
		fuzz_target(s);
		break;
	default:
		fuzz_api_json(s, size - 1);
		break;
	}
	free(s);
	return 0;
}
