#!/usr/bin/env python3
"""Checks the manifests `helm template` rendered for the bpfmirror chart.

Usage: check_manifests.py RENDERED.yaml NAMESPACE VALUES.yaml [OVERRIDE.yaml...]

The values files are merged like Helm does (later files win, maps merged
deeply, lists replaced) and the rendered objects are checked against the
chart's promises: the agent DaemonSet's privileges (host namespaces, an exact
capability set, not privileged, control port on loopback only), probes and
resources, the RBAC scope of the developer roles and the policy ConfigMap.
Prints one line per failed check; exits 1 if any failed.
"""
import sys

import yaml

CAPS = {"BPF", "NET_ADMIN", "PERFMON", "SYS_ADMIN", "SYS_PTRACE"}
ALLOWED_HOST_PATHS = {
    "/proc", "/sys/fs/cgroup", "/sys/fs/bpf", "/sys/kernel/btf",
    "/dev/net/tun", "/var/log/pods",
}
READ_ONLY_HOST_PATHS = {"/proc", "/sys/fs/cgroup", "/sys/kernel/btf",
                        "/var/log/pods"}
READ_VERBS = {"get", "list", "watch"}
CLUSTER_KINDS = {"Namespace", "ClusterRole", "ClusterRoleBinding"}

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys (the API server does)."""


def _strict_mapping(loader, node, deep=False):
    keys = [loader.construct_object(k, deep=deep) for k, _ in node.value]
    dups = {k for k in keys if keys.count(k) > 1}
    if dups:
        raise yaml.constructor.ConstructorError(
            None, None, f"duplicate keys {sorted(dups)}", node.start_mark)
    return loader.construct_mapping(node, deep)


StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _strict_mapping)


def merge(base, over):
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = merge(base.get(k), v) if k in base else v
        return out
    return over


def by_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def one(docs, kind, name=None):
    found = [d for d in by_kind(docs, kind)
             if name is None or d["metadata"]["name"] == name]
    check(len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}")
    return found[0] if found else {}


def arg_after(args, flag):
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def check_daemonset(docs, ns, v):
    ds = one(docs, "DaemonSet")
    if not ds:
        return None
    sel = ds["spec"]["selector"]["matchLabels"]
    check(sel.get("app.kubernetes.io/name") == "bpfmirror-agent"
          and sel.get("app.kubernetes.io/component") == "agent",
          f"DaemonSet selector lacks the agent labels: {sel}")
    tmpl = ds["spec"]["template"]
    labels = tmpl["metadata"]["labels"]
    check(all(labels.get(k) == val for k, val in sel.items()),
          "pod template labels do not satisfy the selector")
    annot = tmpl["metadata"].get("annotations", {})
    check(annot.get("bpfmirror.dev/control-port") == str(v["controlPort"]),
          "pod annotation bpfmirror.dev/control-port != controlPort (the CLI reads it)")
    upd = ds["spec"].get("updateStrategy", {})
    check(upd.get("type") == "RollingUpdate"
          and upd.get("rollingUpdate", {}).get("maxUnavailable") == 1,
          f"updateStrategy is not RollingUpdate/maxUnavailable 1: {upd}")

    pod = tmpl["spec"]
    check(pod.get("hostNetwork") is True, "hostNetwork is not true")
    check(pod.get("hostPID") is True, "hostPID is not true")
    check(pod.get("dnsPolicy") == "ClusterFirstWithHostNet",
          "dnsPolicy is not ClusterFirstWithHostNet")
    check(pod.get("nodeSelector", {}).get("kubernetes.io/os") == "linux",
          "nodeSelector lacks kubernetes.io/os: linux")
    check(pod.get("nodeSelector") == v["nodeSelector"], "nodeSelector != values")
    check(pod.get("tolerations") == v["tolerations"] and pod.get("tolerations"),
          "tolerations missing or != values")
    check(pod.get("priorityClassName", "") == v["priorityClassName"],
          "priorityClassName != values")
    check(pod.get("automountServiceAccountToken") is False,
          "the agent's service account token is mounted")
    check("initContainers" not in pod, "unexpected initContainers")
    check(not pod.get("securityContext", {}).get("privileged"),
          "pod securityContext privileged")
    check(len(pod["containers"]) == 1, "expected exactly one container")
    c = pod["containers"][0]

    tag = v["image"]["tag"] or v["_appVersion"]
    check(c["image"] == f'{v["image"]["repository"]}:{tag}',
          f'image {c["image"]} != {v["image"]["repository"]}:{tag}')

    sc = c.get("securityContext", {})
    check(sc.get("privileged") is False, "container privileged is not false")
    check(sc.get("allowPrivilegeEscalation") is False,
          "allowPrivilegeEscalation is not false")
    check(sc.get("readOnlyRootFilesystem") is True,
          "readOnlyRootFilesystem is not true")
    caps = sc.get("capabilities", {})
    check(caps.get("drop") == ["ALL"], f'capabilities.drop {caps.get("drop")} != [ALL]')
    want = CAPS | set(v["securityContext"]["extraCapabilities"])
    add = caps.get("add", [])
    check(len(add) == len(set(add)) and set(add) == want,
          f"capabilities.add {add} != {sorted(want)}")

    args = c.get("args", [])
    listen = arg_after(args, "--listen")
    check(listen == f'127.0.0.1:{v["controlPort"]}',
          f"--listen {listen!r} is not 127.0.0.1:{v['controlPort']}")
    # The pod IP only, never every address (issue 11).
    check(arg_after(args, "--metrics") == f'$(POD_IP):{v["metrics"]["port"]}',
          "--metrics is not $(POD_IP):metrics.port")
    pod_ip = [e for e in c.get("env", []) if e.get("name") == "POD_IP"]
    check(len(pod_ip) == 1 and pod_ip[0].get("valueFrom", {}).get("fieldRef", {})
          .get("fieldPath") == "status.podIP", "env POD_IP is not the pod's status.podIP")
    check(arg_after(args, "--log-level") == v["logLevel"], "--log-level != values")
    check(arg_after(args, "--log-format") == v["logFormat"], "--log-format != values")
    policy_path = arg_after(args, "--policy")
    mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
    pm = mounts.get("policy", {})
    check(policy_path is not None and pm.get("mountPath")
          and policy_path.startswith(pm["mountPath"] + "/"),
          f"--policy {policy_path} is not inside the policy volume")

    ports = {p["name"]: p for p in c.get("ports", [])}
    check(ports.get("metrics", {}).get("containerPort") == v["metrics"]["port"],
          "metrics port != metrics.port")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        hg = c.get(probe, {}).get("httpGet", {})
        port = hg.get("port")
        if isinstance(port, str):
            port = ports.get(port, {}).get("containerPort")
        check(port == v["metrics"]["port"] and hg.get("path") == path,
              f"{probe} is not httpGet {path} on the metrics port: {hg}")

    res = c.get("resources", {})
    for kind in ("requests", "limits"):
        check(res.get(kind, {}).get("cpu") and res.get(kind, {}).get("memory"),
              f"resources.{kind} cpu/memory not set")
    check(res == v["resources"], "resources != values")

    vols = {vol["name"]: vol for vol in pod.get("volumes", [])}
    for name, vol in vols.items():
        hp = vol.get("hostPath")
        if not hp:
            continue
        check(hp["path"] in ALLOWED_HOST_PATHS, f"unexpected hostPath {hp['path']}")
        m = mounts.get(name)
        check(m is not None, f"hostPath volume {name} not mounted")
        if m and hp["path"] in READ_ONLY_HOST_PATHS:
            check(m.get("readOnly") is True, f"{hp['path']} is not mounted read-only")
    host_paths = {vol["hostPath"]["path"] for vol in vols.values() if "hostPath" in vol}
    for path in ("/proc", "/sys/fs/cgroup", "/sys/fs/bpf", "/sys/kernel/btf"):
        check(path in host_paths, f"hostPath {path} missing")
    for key, path in (("tun", "/dev/net/tun"), ("podLogs", "/var/log/pods")):
        check((path in host_paths) == bool(v["mounts"][key]),
              f"hostPath {path} present != mounts.{key}")
    return ds


def check_rbac(docs, ns, v):
    role_name = v["rbac"]["userRoleName"]
    cr = one(docs, "ClusterRole", role_name)
    for rule in cr.get("rules", []):
        verbs = set(rule.get("verbs", []))
        res = set(rule.get("resources", []))
        check(verbs <= READ_VERBS, f"ClusterRole grants {sorted(verbs - READ_VERBS)} on {sorted(res)}")
        check("*" not in res and "secrets" not in res and "configmaps" not in res,
              f"ClusterRole reaches {sorted(res)}")
        check(not any("/" in r for r in res), f"ClusterRole grants subresources {sorted(res)}")
    cr_res = {r for rule in cr.get("rules", []) for r in rule.get("resources", [])}
    for r in ("pods", "services", "deployments", "replicasets", "statefulsets"):
        check(r in cr_res, f"ClusterRole cannot read {r}")

    role = one(docs, "Role", role_name)
    check(role.get("metadata", {}).get("namespace") == ns,
          f"Role is not in the release namespace {ns}")
    pf = False
    for rule in role.get("rules", []):
        verbs = set(rule.get("verbs", []))
        res = set(rule.get("resources", []))
        check("*" not in verbs and "*" not in res, "Role uses wildcards")
        writes = verbs - READ_VERBS
        if writes:
            check(writes == {"create"} and res == {"pods/portforward"},
                  f"Role grants {sorted(writes)} on {sorted(res)}")
        pf = pf or ("pods/portforward" in res and "create" in verbs)
        check(not (res - {"pods", "pods/portforward"}), f"Role reaches {sorted(res)}")
    check(pf, "Role does not grant create on pods/portforward")

    # Nothing else may hand out cluster-wide rights, and the agent's own
    # service account must stay unbound (it needs no API access).
    check(len(by_kind(docs, "ClusterRole")) == 1, "more than one ClusterRole")
    subjects = [{"kind": "Group", "name": g} for g in v["rbac"]["bindGroups"]] + \
               [{"kind": "User", "name": u} for u in v["rbac"]["bindUsers"]]
    crbs = by_kind(docs, "ClusterRoleBinding")
    rbs = by_kind(docs, "RoleBinding")
    check(len(crbs) == (1 if subjects else 0) and len(rbs) == (1 if subjects else 0),
          f"{len(crbs)} ClusterRoleBindings, {len(rbs)} RoleBindings for {subjects}")
    for b, kind in [(b, "ClusterRole") for b in crbs] + [(b, "Role") for b in rbs]:
        check(b["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io",
                               "kind": kind, "name": role_name},
              f"{b['kind']} refers to {b['roleRef']}")
        got = [{"kind": s["kind"], "name": s["name"]} for s in b.get("subjects", [])]
        check(got == subjects, f"{b['kind']} subjects {got} != {subjects}")
        check(all(s["kind"] != "ServiceAccount" for s in b.get("subjects", [])),
              f"{b['kind']} binds a ServiceAccount")
    for b in rbs:
        check(b["metadata"].get("namespace") == ns, "RoleBinding outside the release namespace")


def check_policy(docs, ns, v, ds):
    cms = [d for d in by_kind(docs, "ConfigMap") if "policy.yaml" in d.get("data", {})]
    if not check(len(cms) == 1, f"expected one policy ConfigMap, found {len(cms)}"):
        return
    cm = cms[0]
    if ds:
        vols = ds["spec"]["template"]["spec"]["volumes"]
        names = [vol.get("configMap", {}).get("name") for vol in vols]
        check(cm["metadata"]["name"] in names, "the DaemonSet does not mount the policy ConfigMap")
    pol = yaml.load(cm["data"]["policy.yaml"], Loader=StrictLoader)
    p = v["policy"]
    deny = list(p["deniedNamespaces"])
    if ns not in deny:
        deny.append(ns)
    want = {
        "version": 1,
        "namespaces": {"allow": p["allowedNamespaces"], "deny": deny},
        "mirror": {"allowed": p["mirror"]["allowed"]},
        "steal": {
            "allowed": p["steal"]["allowed"],
            "allow_whole_connection": p["steal"]["allowWholeConnection"],
            "require_header": p["steal"].get("requireHeader", ""),
            "require_header_pattern": p["steal"].get("requireHeaderPattern", ""),
        },
        "files": {"allow_write": bool(p["files"].get("allowWrite", False)),
                  "denied_paths": p["files"]["deniedPaths"]},
        "env": {"denied_names": p["env"]["deniedNames"]},
    }
    check(pol == want, f"policy.yaml\n  got  {pol}\n  want {want}")


def check_metrics(docs, ns, v, ds):
    svcs = by_kind(docs, "Service")
    if v["metrics"]["service"]["enabled"]:
        if not check(len(svcs) == 1, f"expected one metrics Service, found {len(svcs)}"):
            return
        s = svcs[0]
        check(s["spec"].get("clusterIP") == "None", "metrics Service is not headless")
        ports = [p["port"] for p in s["spec"]["ports"]]
        check(ports == [v["metrics"]["port"]], f"metrics Service ports {ports}")
        check(v["controlPort"] not in ports, "metrics Service exposes the control port")
        if ds:
            labels = ds["spec"]["template"]["metadata"]["labels"]
            check(all(labels.get(k) == x for k, x in s["spec"]["selector"].items()),
                  "metrics Service does not select the agent pods")
    sms = by_kind(docs, "ServiceMonitor")
    check(len(sms) == (1 if v["metrics"]["serviceMonitor"]["enabled"] else 0),
          f"{len(sms)} ServiceMonitors with serviceMonitor.enabled="
          f"{v['metrics']['serviceMonitor']['enabled']}")
    if sms and svcs:
        sel = sms[0]["spec"]["selector"]["matchLabels"]
        labels = svcs[0]["metadata"]["labels"]
        check(all(labels.get(k) == x for k, x in sel.items()),
              "ServiceMonitor does not select the metrics Service")


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    rendered, ns = sys.argv[1], sys.argv[2]
    v = {}
    for path in sys.argv[3:]:
        with open(path) as f:
            v = merge(v, yaml.safe_load(f) or {})
    with open(sys.argv[3].rsplit("/", 1)[0] + "/Chart.yaml") as f:
        v["_appVersion"] = str(yaml.safe_load(f)["appVersion"])
    try:
        with open(rendered) as f:
            docs = [d for d in yaml.load_all(f, Loader=StrictLoader) if d]
    except yaml.YAMLError as e:
        print(f"FAIL: rendered YAML does not parse strictly: {e}")
        return 1

    for d in docs:
        meta = d.get("metadata", {})
        if d.get("kind") not in CLUSTER_KINDS:
            check(meta.get("namespace") == ns,
                  f"{d.get('kind')} {meta.get('name')} not in namespace {ns}")
    nss = by_kind(docs, "Namespace")
    if v.get("createNamespace"):
        if check(len(nss) == 1 and nss[0]["metadata"]["name"] == ns,
                 "createNamespace: no Namespace object for the release namespace"):
            lab = nss[0]["metadata"].get("labels", {})
            check(lab.get("pod-security.kubernetes.io/enforce") == "privileged",
                  "Namespace lacks pod-security.kubernetes.io/enforce: privileged")
    else:
        check(not nss, "a Namespace object was rendered without createNamespace")

    ds = check_daemonset(docs, ns, v)
    if v["rbac"]["create"]:
        check_rbac(docs, ns, v)
    check_policy(docs, ns, v, ds)
    check_metrics(docs, ns, v, ds)

    for f in failures:
        print(f"FAIL: {f}")
    kinds = sorted({d["kind"] for d in docs})
    print(f"checked {len(docs)} objects ({', '.join(kinds)}): "
          f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
