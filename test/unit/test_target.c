/* Unit tests for target parsing and resolution on canned API objects (no HTTP). */
#include "target.h"
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static json_object *parse_json(const char *s)
{
	json_object *o = json_tokener_parse(s);

	ck_assert_msg(o != NULL, "bad test JSON: %s", s);
	return o;
}

/* A pod with containers app (ports http/8080, 53/UDP) and sidecar. */
static json_object *make_pod(const char *name, const char *owner_kind, const char *owner_uid,
			     const char *phase, bool ready, const char *node, const char *ip)
{
	char buf[2048];

	snprintf(
	    buf, sizeof(buf),
	    "{\"metadata\":{\"name\":\"%s\",\"uid\":\"uid-%s\",\"ownerReferences\":["
	    "{\"kind\":\"%s\",\"name\":\"owner\",\"uid\":\"%s\",\"controller\":true}]},"
	    "\"spec\":{\"nodeName\":\"%s\",\"containers\":["
	    "{\"name\":\"app\",\"ports\":[{\"name\":\"http\",\"containerPort\":8080},"
	    "{\"containerPort\":53,\"protocol\":\"UDP\"}]},{\"name\":\"sidecar\"}]},"
	    "\"status\":{\"phase\":\"%s\",\"hostIP\":\"192.168.1.10\",\"podIP\":\"%s\","
	    "\"podIPs\":[{\"ip\":\"%s\"},{\"ip\":\"fd00::5\"}],"
	    "\"conditions\":[{\"type\":\"PodScheduled\",\"status\":\"True\"},"
	    "{\"type\":\"Ready\",\"status\":\"%s\"}],"
	    "\"containerStatuses\":[{\"name\":\"app\",\"containerID\":\"containerd://abc123\"},"
	    "{\"name\":\"sidecar\",\"containerID\":\"cri-o://side1\"}]}}",
	    name, name, owner_kind, owner_uid, node, phase, ip, ip, ready ? "True" : "False");
	return parse_json(buf);
}

static json_object *list_of(json_object **items, size_t n)
{
	json_object *l = json_object_new_object(), *arr = json_object_new_array();

	for (size_t i = 0; i < n; i++)
		json_object_array_add(arr, items[i]);
	json_object_object_add(l, "kind", json_object_new_string("List"));
	json_object_object_add(l, "items", arr);
	return l;
}

static const char deployment[] = "{\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\",\"uid\":"
				 "\"dep-1\"},\"spec\":{\"replicas\":3,\"selector\":{"
				 "\"matchLabels\":{\"app\":\"web\"}}}}";

static json_object *rs_list(void)
{
	json_object *rs[] = {
	    parse_json("{\"metadata\":{\"name\":\"web-1\",\"uid\":\"rs-1\",\"ownerReferences\":"
		       "[{\"kind\":\"Deployment\",\"name\":\"web\",\"uid\":\"dep-1\","
		       "\"controller\":true}]}}"),
	    parse_json("{\"metadata\":{\"name\":\"web2-1\",\"uid\":\"rs-2\",\"ownerReferences\":"
		       "[{\"kind\":\"Deployment\",\"name\":\"web2\",\"uid\":\"dep-2\","
		       "\"controller\":true}]}}"),
	};
	return list_of(rs, 2);
}

START_TEST(parse_targets)
{
	struct target_spec s;
	struct kube_err err = {0};

	ck_assert_int_eq(target_parse("deployment/web", &s, &err), 0);
	ck_assert_int_eq(s.kind, TARGET_DEPLOYMENT);
	ck_assert_str_eq(s.name, "web");
	ck_assert_str_eq(s.container, "");
	ck_assert(s.kind_given);
	ck_assert_int_eq(target_parse("deploy/web/container/app", &s, &err), 0);
	ck_assert_int_eq(s.kind, TARGET_DEPLOYMENT);
	ck_assert_str_eq(s.container, "app");
	ck_assert_int_eq(target_parse("sts/db-0.x", &s, &err), 0);
	ck_assert_int_eq(s.kind, TARGET_STATEFULSET);
	ck_assert_int_eq(target_parse("rs/web-1", &s, &err), 0);
	ck_assert_int_eq(s.kind, TARGET_REPLICASET);
	ck_assert_int_eq(target_parse("Deployment.apps/web", &s, &err), 0);
	ck_assert_int_eq(s.kind, TARGET_DEPLOYMENT);
	ck_assert_int_eq(target_parse("po/web-a", &s, &err), 0);
	ck_assert_int_eq(s.kind, TARGET_POD);
	ck_assert_int_eq(target_parse("web-a", &s, &err), 0);
	ck_assert_int_eq(s.kind, TARGET_POD);
	ck_assert(!s.kind_given);
	ck_assert_int_eq(target_parse("web-a/container/side", &s, &err), 0);
	ck_assert_str_eq(s.container, "side");

	ck_assert_int_eq(target_parse("daemonset/x", &s, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "unknown target kind 'daemonset'"));
	ck_assert_int_eq(target_parse("", &s, &err), -EINVAL);
	ck_assert_int_eq(target_parse("pod/", &s, &err), -EINVAL);
	ck_assert_int_eq(target_parse("pod/Web", &s, &err), -EINVAL);
	ck_assert_int_eq(target_parse("pod/a/b", &s, &err), -EINVAL);
	ck_assert_int_eq(target_parse("pod/a/container/", &s, &err), -EINVAL);
	ck_assert_int_eq(target_parse("pod/a/container/b/c", &s, &err), -EINVAL);
	ck_assert_int_eq(target_parse("pod/a/container/a.b", &s, &err), -EINVAL);
	ck_assert_int_eq(target_parse("a/b/c/d/e/f", &s, &err), -EINVAL);
}
END_TEST

START_TEST(selectors)
{
	char buf[256];
	struct kube_err err = {0};
	json_object *d = parse_json(deployment);
	json_object *x = parse_json(
	    "{\"spec\":{\"selector\":{\"matchLabels\":{\"a\":\"1\"},\"matchExpressions\":["
	    "{\"key\":\"tier\",\"operator\":\"In\",\"values\":[\"web\",\"api\"]},"
	    "{\"key\":\"env\",\"operator\":\"NotIn\",\"values\":[\"prod\"]},"
	    "{\"key\":\"canary\",\"operator\":\"DoesNotExist\"},"
	    "{\"key\":\"team\",\"operator\":\"Exists\"}]}}}");
	json_object *none = parse_json("{\"metadata\":{\"name\":\"n\"},\"spec\":{}}");

	ck_assert_int_eq(target_selector(d, buf, sizeof(buf), &err), 0);
	ck_assert_str_eq(buf, "app=web");
	ck_assert_int_eq(target_selector(x, buf, sizeof(buf), &err), 0);
	ck_assert_str_eq(buf, "a=1,tier in (web,api),env notin (prod),!canary,team");
	ck_assert_int_eq(target_selector(x, buf, 10, &err), -ENOSPC);
	ck_assert_int_eq(target_selector(none, buf, sizeof(buf), &err), -EINVAL);
	json_object_put(d);
	json_object_put(x);
	json_object_put(none);
}
END_TEST

START_TEST(deployment_pods)
{
	struct target_spec spec;
	struct target t;
	struct kube_err err = {0};
	json_object *d = parse_json(deployment), *rs = rs_list();
	json_object *pods[] = {
	    make_pod("web-b", "ReplicaSet", "rs-1", "Running", true, "n2", "10.0.2.5"),
	    make_pod("web-a", "ReplicaSet", "rs-1", "Running", true, "n1", "10.0.1.5"),
	    make_pod("web-c", "ReplicaSet", "rs-1", "Pending", false, "n1", ""),
	    make_pod("web2-x", "ReplicaSet", "rs-2", "Running", true, "n1", "10.0.1.6"),
	    make_pod("web-d", "ReplicaSet", "rs-1", "Running", false, "n1", "10.0.1.7"),
	};
	json_object *list = list_of(pods, 5);
	struct target_pod *p;

	ck_assert_int_eq(target_parse("deployment/web", &spec, &err), 0);
	ck_assert_int_eq(target_pick_pods(&spec, "shop", d, rs, list, &t, &err), 0);
	ck_assert_uint_eq(t.n_pods, 2);
	ck_assert_str_eq(t.namespace, "shop");
	p = &t.pods[0];
	ck_assert_str_eq(p->name, "web-a");
	ck_assert_str_eq(t.pods[1].name, "web-b");
	ck_assert_str_eq(p->uid, "uid-web-a");
	ck_assert_str_eq(p->node, "n1");
	ck_assert_str_eq(p->host_ip, "192.168.1.10");
	ck_assert_uint_eq(p->n_pod_ips, 2);
	ck_assert_str_eq(p->pod_ips[0], "10.0.1.5");
	ck_assert_str_eq(p->pod_ips[1], "fd00::5");
	ck_assert_str_eq(p->container, "app");
	ck_assert_str_eq(p->container_id, "abc123");
	ck_assert_str_eq(p->runtime, "containerd");
	ck_assert_uint_eq(p->n_ports, 2);
	ck_assert_uint_eq(p->ports[0].port, 8080);
	ck_assert_str_eq(p->ports[0].name, "http");
	ck_assert_str_eq(p->ports[0].protocol, "TCP");
	ck_assert_uint_eq(p->ports[1].port, 53);
	ck_assert_str_eq(p->ports[1].protocol, "UDP");
	target_clear(&t);

	/* A named container. */
	ck_assert_int_eq(target_parse("deployment/web/container/sidecar", &spec, &err), 0);
	ck_assert_int_eq(target_pick_pods(&spec, "shop", d, rs, list, &t, &err), 0);
	ck_assert_str_eq(t.pods[0].container, "sidecar");
	ck_assert_str_eq(t.pods[0].runtime, "cri-o");
	ck_assert_str_eq(t.pods[0].container_id, "side1");
	ck_assert_uint_eq(t.pods[0].n_ports, 0);
	target_clear(&t);

	ck_assert_int_eq(target_parse("deployment/web/container/nope", &spec, &err), 0);
	ck_assert_int_eq(target_pick_pods(&spec, "shop", d, rs, list, &t, &err), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err.msg, "no container 'nope'"));
	ck_assert_ptr_nonnull(strstr(err.hint, "app, sidecar"));
	ck_assert_ptr_null(t.pods);

	json_object_put(list);
	json_object_put(rs);
	json_object_put(d);
}
END_TEST

START_TEST(no_ready_pod)
{
	struct target_spec spec;
	struct target t;
	struct kube_err err = {0};
	json_object *d = parse_json(deployment), *rs = rs_list();
	json_object *pods[] = {
	    make_pod("web-c", "ReplicaSet", "rs-1", "Pending", false, "n1", ""),
	    make_pod("web-d", "ReplicaSet", "rs-1", "Running", false, "n1", "10.0.1.7"),
	    make_pod("web-e", "ReplicaSet", "rs-1", "Pending", false, "n1", ""),
	    make_pod("web2-x", "ReplicaSet", "rs-2", "Running", true, "n1", "10.0.1.6"),
	};
	json_object *list = list_of(pods, 4), *empty = list_of(NULL, 0);

	ck_assert_int_eq(target_parse("deploy/web", &spec, &err), 0);
	ck_assert_int_eq(target_pick_pods(&spec, "shop", d, rs, list, &t, &err), -ENOENT);
	ck_assert_str_eq(err.msg, "deployment/web has no ready pod: 3 pods, 2 Pending, 1 Running "
				  "but not ready");
	ck_assert_int_eq(target_pick_pods(&spec, "shop", d, rs, empty, &t, &err), -ENOENT);
	ck_assert_str_eq(err.msg, "deployment/web has no pods (spec.replicas is 3)");
	json_object_put(empty);
	json_object_put(list);
	json_object_put(rs);
	json_object_put(d);
}
END_TEST

START_TEST(statefulset_and_pod)
{
	struct target_spec spec;
	struct target t;
	struct kube_err err = {0};
	json_object *sts =
	    parse_json("{\"metadata\":{\"name\":\"db\",\"uid\":\"sts-1\"},"
		       "\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"db\"}}}}");
	json_object *pods[] = {
	    make_pod("db-0", "StatefulSet", "sts-1", "Running", true, "n1", "10.0.1.9"),
	    make_pod("db-x", "StatefulSet", "sts-9", "Running", true, "n1", "10.0.1.8"),
	};
	json_object *list = list_of(pods, 2);
	json_object *single =
	    make_pod("db-0", "StatefulSet", "sts-1", "Running", true, "n1", "10.0.1.9");
	json_object *pending = make_pod("db-1", "StatefulSet", "sts-1", "Pending", false, "n1", "");

	ck_assert_int_eq(target_parse("sts/db", &spec, &err), 0);
	ck_assert_int_eq(target_pick_pods(&spec, "ns", sts, NULL, list, &t, &err), 0);
	ck_assert_uint_eq(t.n_pods, 1);
	ck_assert_str_eq(t.pods[0].name, "db-0");
	target_clear(&t);

	ck_assert_int_eq(target_parse("pod/db-0", &spec, &err), 0);
	ck_assert_int_eq(target_pick_pods(&spec, "ns", single, NULL, NULL, &t, &err), 0);
	ck_assert_uint_eq(t.n_pods, 1);
	ck_assert_str_eq(t.pods[0].container, "app");
	target_clear(&t);

	/* The default-container annotation picks the container. */
	json_object_object_add(json_object_object_get(single, "metadata"), "annotations",
			       parse_json("{\"kubectl.kubernetes.io/default-container\":"
					  "\"sidecar\"}"));
	ck_assert_int_eq(target_pick_pods(&spec, "ns", single, NULL, NULL, &t, &err), 0);
	ck_assert_str_eq(t.pods[0].container, "sidecar");
	target_clear(&t);

	ck_assert_int_eq(target_parse("pod/db-1", &spec, &err), 0);
	ck_assert_int_eq(target_pick_pods(&spec, "ns", pending, NULL, NULL, &t, &err), -ENOENT);
	ck_assert_str_eq(err.msg, "pod/db-1 is not ready (1 Pending)");

	json_object_put(pending);
	json_object_put(single);
	json_object_put(list);
	json_object_put(sts);
}
END_TEST

static json_object *agent(const char *name, const char *node, const char *phase,
			  const char *port_annotation)
{
	char buf[1024];

	snprintf(buf, sizeof(buf),
		 "{\"metadata\":{\"name\":\"%s\",\"annotations\":{%s%s%s}},"
		 "\"spec\":{\"nodeName\":\"%s\",\"hostNetwork\":true},"
		 "\"status\":{\"phase\":\"%s\",\"podIP\":\"192.168.1.%d\",\"hostIP\":"
		 "\"192.168.1.%d\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}",
		 name, port_annotation ? "\"bpfmirror.dev/control-port\":\"" : "",
		 port_annotation ? port_annotation : "", port_annotation ? "\"" : "", node, phase,
		 node[1] - '0', node[1] - '0');
	return parse_json(buf);
}

START_TEST(agents)
{
	struct target_pod p = {0};
	struct kube_err err = {0};
	json_object *a1[] = {agent("agent-a", "n3", "Running", NULL),
			     agent("agent-b", "n1", "Running", "47200")};
	json_object *a2[] = {agent("agent-c", "n2", "Pending", NULL)};
	json_object *a3[] = {agent("agent-d", "n1", "Running", "99999")};
	json_object *l1 = list_of(a1, 2), *l2 = list_of(a2, 1), *l3 = list_of(a3, 1);
	json_object *l4 = list_of((json_object *[]){agent("agent-e", "n1", "Running", NULL)}, 1);

	strcpy(p.name, "web-a");
	strcpy(p.node, "n1");
	ck_assert_int_eq(target_set_agent(&p, l1, "bpfmirror", &err), 0);
	ck_assert(p.has_agent);
	ck_assert_str_eq(p.agent.pod, "agent-b");
	ck_assert_str_eq(p.agent.namespace, "bpfmirror");
	ck_assert_str_eq(p.agent.address, "192.168.1.1");
	ck_assert_uint_eq(p.agent.port, 47200);

	ck_assert_int_eq(target_set_agent(&p, l4, "bpfmirror", &err), 0);
	ck_assert_uint_eq(p.agent.port, TARGET_AGENT_PORT);

	ck_assert_int_eq(target_set_agent(&p, l3, "bpfmirror", &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "99999"));

	strcpy(p.node, "n2");
	ck_assert_int_eq(target_set_agent(&p, l1, "bpfmirror", &err), -ENOENT);
	ck_assert_str_eq(err.msg, "no bpfmirror agent runs on node n2 (for pod web-a)");
	ck_assert_ptr_nonnull(strstr(err.hint, "docs/install.md"));
	ck_assert_int_eq(target_set_agent(&p, l2, "bpfmirror", &err), -EHOSTDOWN);
	ck_assert_ptr_nonnull(strstr(err.msg, "not running (Pending)"));

	json_object_put(l1);
	json_object_put(l2);
	json_object_put(l3);
	json_object_put(l4);
}
END_TEST

START_TEST(did_you_mean)
{
	char buf[TARGET_NAME_MAX];
	json_object *l = parse_json("{\"items\":[{\"metadata\":{\"name\":\"ip-visit-counter\"}},"
				    "{\"metadata\":{\"name\":\"redis-main\"}},"
				    "{\"metadata\":{\"name\":\"redis-main-5c6b-abcde\"}},"
				    "{\"metadata\":{}}]}");

	ck_assert_uint_eq(target_edit_distance("kitten", "sitting"), 3);
	ck_assert_uint_eq(target_edit_distance("", "abc"), 3);
	ck_assert_uint_eq(target_edit_distance("same", "same"), 0);
	ck_assert_int_eq(target_suggest("ip-visit-countr", l, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "ip-visit-counter");
	ck_assert_int_eq(target_suggest("redis-mian", l, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "redis-main");
	ck_assert_int_eq(target_suggest("redis", l, buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "redis-main");
	ck_assert_int_eq(target_suggest("postgres", l, buf, sizeof(buf)), -ENOENT);
	ck_assert_int_eq(target_suggest("x", NULL, buf, sizeof(buf)), -ENOENT);
	json_object_put(l);
}
END_TEST

START_TEST(to_json)
{
	struct target_spec spec;
	struct target t;
	struct kube_err err = {0};
	json_object *pod = make_pod("db-0", "StatefulSet", "s", "Running", true, "n1", "10.0.1.9");
	json_object *agents = list_of((json_object *[]){agent("ag", "n1", "Running", NULL)}, 1);
	json_object *j;

	ck_assert_int_eq(target_parse("pod/db-0", &spec, &err), 0);
	ck_assert_int_eq(target_pick_pods(&spec, "ns", pod, NULL, NULL, &t, &err), 0);
	ck_assert_int_eq(target_set_agent(&t.pods[0], agents, "bpfmirror", &err), 0);
	j = target_to_json(&t);
	ck_assert_str_eq(kj_str(j, "target"), "pod/db-0");
	ck_assert_str_eq(kj_str(j, "namespace"), "ns");
	ck_assert_str_eq(kj_str(kj_idx(j, "pods", 0), "containerID"), "abc123");
	ck_assert_str_eq(kj_str(kj_idx(j, "pods", 0), "agent.address"), "192.168.1.1");
	ck_assert_int_eq(kj_int(kj_idx(j, "pods", 0), "agent.port", 0), TARGET_AGENT_PORT);
	ck_assert_int_eq(kj_int(kj_idx(kj_idx(j, "pods", 0), "ports", 0), "port", 0), 8080);
	json_object_put(j);
	target_clear(&t);
	json_object_put(agents);
	json_object_put(pod);
}
END_TEST

static Suite *target_suite(void)
{
	Suite *s = suite_create("target");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, parse_targets);
	tcase_add_test(tc, selectors);
	tcase_add_test(tc, deployment_pods);
	tcase_add_test(tc, no_ready_pod);
	tcase_add_test(tc, statefulset_and_pod);
	tcase_add_test(tc, agents);
	tcase_add_test(tc, did_you_mean);
	tcase_add_test(tc, to_json);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(target_suite)
