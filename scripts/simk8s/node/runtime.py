"""The container runtime: resolves binaries, builds env and volumes, names cgroups like kubelet+containerd, and starts container processes."""
import base64
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time

from simk8s import config, statefile

_VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class ContainerError(Exception):
    pass


def load_binary_map():
    rules = {"command": {}, "image": {}}
    with open(os.path.join(os.path.dirname(os.path.realpath(__file__)), "binaries.map")) as f:
        for line in f:
            parts = line.split("#", 1)[0].split()
            if len(parts) == 3 and parts[0] in rules:
                rules[parts[0]][parts[1]] = parts[2]
    return rules


def resolve_binary(container):
    """Return (argv, binary path) for a container spec."""
    rules = load_binary_map()
    cmd = list(container.get("command") or [])
    args = list(container.get("args") or [])
    if not cmd:
        repo = container.get("image", "").split("@")[0].rsplit("/", 1)[-1].split(":")[0]
        if repo not in rules["image"]:
            raise ContainerError("no command and no image rule for %r" % container.get("image"))
        cmd = [repo]
        path = rules["image"][repo]
    else:
        path = rules["command"].get(os.path.basename(cmd[0]))
    if path is None:
        path = cmd[0] if "/" in cmd[0] else shutil.which(cmd[0], path=config.DEFAULT_PATH)
    elif not path.startswith("/"):
        path = os.path.join(config.REPO, path)
    if not path or not os.access(path, os.X_OK):
        raise ContainerError("binary for %r not found (%s); run make?" % (cmd[0], path))
    return cmd + args, path


def expand_refs(s, env):
    return _VAR_REF.sub(lambda m: env.get(m.group(1), m.group(0)), s)


def find_obj(objects, kind, ns, name):
    for o in objects:
        if o["kind"] == kind and o["metadata"]["name"] == name and o["metadata"].get("namespace") == ns:
            return o
    return None


def obj_data(o):
    """String data of a ConfigMap or Secret."""
    if o is None:
        return None
    if o["kind"] == "Secret":
        out = {k: base64.b64decode(v).decode(errors="replace") for k, v in (o.get("data") or {}).items()}
        out.update(o.get("stringData") or {})
        return out
    return dict(o.get("data") or {})


def field_value(pod, path):
    md, spec = pod["object"]["metadata"], pod["object"]["spec"]
    m = re.match(r"metadata\.(labels|annotations)\['(.*)'\]$", path)
    if m:
        return (md.get(m.group(1)) or {}).get(m.group(2), "")
    return {"metadata.name": pod["name"], "metadata.namespace": pod["namespace"], "metadata.uid": pod["uid"],
            "spec.nodeName": pod["node"], "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
            "status.podIP": pod["podIP"], "status.podIPs": pod["podIP"], "status.hostIP": pod["hostIP"],
            "status.hostIPs": pod["hostIP"]}.get(path, "")


def service_env(services, ns):
    """The docker-links style variables kubelet injects for Services of the pod's namespace."""
    env = {}
    for s in services:
        if s["headless"] or not s["clusterIP"] or not s["ports"]:
            continue
        if s["namespace"] != ns and not (s["name"] == "kubernetes" and s["namespace"] == "default"):
            continue
        n = s["name"].upper().replace("-", "_")
        first = s["ports"][0]
        env[n + "_SERVICE_HOST"] = s["clusterIP"]
        env[n + "_SERVICE_PORT"] = str(first["port"])
        for p in s["ports"]:
            if p.get("name"):
                env["%s_SERVICE_PORT_%s" % (n, p["name"].upper().replace("-", "_"))] = str(p["port"])
            proto = p.get("protocol", "TCP")
            url = "%s://%s:%d" % (proto.lower(), s["clusterIP"], p["port"])
            pre = "%s_PORT_%d_%s" % (n, p["port"], proto)
            env[pre] = url
            env[pre + "_PROTO"] = proto.lower()
            env[pre + "_PORT"] = str(p["port"])
            env[pre + "_ADDR"] = s["clusterIP"]
        env[n + "_PORT"] = "%s://%s:%d" % (first.get("protocol", "TCP").lower(), s["clusterIP"], first["port"])
    return env


def container_env(st, pod, c):
    spec = pod["object"]["spec"]
    env = {"PATH": config.DEFAULT_PATH, "HOSTNAME": spec.get("hostname", pod["name"])}
    if spec.get("enableServiceLinks", True):
        env.update(service_env(st["services"], pod["namespace"]))
    for ef in c.get("envFrom") or []:
        ref = ef.get("configMapRef") or ef.get("secretRef")
        kind = "ConfigMap" if "configMapRef" in ef else "Secret"
        data = obj_data(find_obj(st["objects"], kind, pod["namespace"], ref["name"]))
        if data is None:
            if ref.get("optional"):
                continue
            raise ContainerError("%s %s not found" % (kind, ref["name"]))
        for k, v in data.items():
            env[ef.get("prefix", "") + k] = v
    for e in c.get("env") or []:
        if "value" in e or "valueFrom" not in e:
            env[e["name"]] = expand_refs(str(e.get("value", "")), env)
            continue
        vf = e["valueFrom"]
        if "fieldRef" in vf:
            env[e["name"]] = field_value(pod, vf["fieldRef"]["fieldPath"])
        elif "configMapKeyRef" in vf or "secretKeyRef" in vf:
            ref = vf.get("configMapKeyRef") or vf.get("secretKeyRef")
            kind = "ConfigMap" if "configMapKeyRef" in vf else "Secret"
            data = obj_data(find_obj(st["objects"], kind, pod["namespace"], ref["name"]))
            if data is None or ref["key"] not in data:
                if ref.get("optional"):
                    continue
                raise ContainerError("%s %s key %s not found" % (kind, ref["name"], ref["key"]))
            env[e["name"]] = data[ref["key"]]
        elif "resourceFieldRef" in vf:
            env[e["name"]] = "0"
    return env


def pod_dir(pod):
    return os.path.join(config.RUN_DIR, "pods", pod["uid"])


def ensure_mountpoint(path, is_dir):
    """Bind mounts need a mount point; create missing ones on the host and record them for down."""
    if os.path.lexists(path):
        return
    parent = os.path.dirname(path.rstrip("/"))
    if parent and parent != "/":
        ensure_mountpoint(parent, True)
    statefile.ledger_add("mountpoint", path)
    if is_dir:
        os.mkdir(path)
    else:
        open(path, "a").close()


def prepare_volumes(st, pod):
    """Write ConfigMap/Secret/emptyDir volumes under the pod's run dir; return {volume name: host path}."""
    out = {}
    for v in pod["object"]["spec"].get("volumes") or []:
        d = os.path.join(pod_dir(pod), "volumes", v["name"])
        os.makedirs(d, exist_ok=True)
        src = v.get("configMap") or v.get("secret")
        if src is not None:
            kind = "ConfigMap" if "configMap" in v else "Secret"
            name = src.get("name") or src.get("secretName")
            data = obj_data(find_obj(st["objects"], kind, pod["namespace"], name))
            if data is None:
                if not src.get("optional"):
                    raise ContainerError("volume %s: %s %s not found" % (v["name"], kind, name))
                data = {}
            items = src.get("items") or [{"key": k, "path": k} for k in data]
            for it in items:
                if it["key"] not in data:
                    continue
                fp = os.path.join(d, it["path"])
                os.makedirs(os.path.dirname(fp), exist_ok=True)
                with open(fp, "w") as f:
                    f.write(data[it["key"]])
        elif "hostPath" in v:
            d = v["hostPath"]["path"]
        out[v["name"]] = d
    return out


POD_LOGS = "/var/log/pods"


def make_pod_log_dir(pod):
    """kubelet's /var/log/pods/<namespace>_<pod>_<uid>: the agent verifies a pod's namespace by it."""
    ensure_mountpoint(os.path.join(POD_LOGS, "%s_%s_%s" % (pod["namespace"], pod["name"], pod["uid"])), True)


def write_etc_files(pod):
    d = pod_dir(pod)
    os.makedirs(d, exist_ok=True)
    spec = pod["object"]["spec"]
    ns = pod["namespace"]
    dom = config.CLUSTER_DOMAIN
    files = {}
    if not pod["hostNetwork"] or spec.get("dnsPolicy") == "ClusterFirstWithHostNet":
        if spec.get("dnsPolicy") != "Default":
            files["/etc/resolv.conf"] = ("search %s.svc.%s svc.%s %s\nnameserver %s\noptions ndots:5\n" %
                                         (ns, dom, dom, dom, config.DNS_IP))
    if not pod["hostNetwork"]:
        host = spec.get("hostname", pod["name"])
        fq = host
        if spec.get("subdomain"):
            fq = "%s.%s.%s.svc.%s %s" % (host, spec["subdomain"], ns, dom, host)
        files["/etc/hosts"] = ("# Kubernetes-managed hosts file (simcluster).\n127.0.0.1\tlocalhost\n"
                               "%s\t%s\n" % (pod["podIP"], fq))
        files["/etc/hostname"] = host + "\n"
    mounts = []
    for dst, text in files.items():
        src = os.path.join(d, os.path.basename(dst))
        with open(src, "w") as f:
            f.write(text)
        mounts.append([src, dst, False])
    return mounts


def cgroup_path(pod, cid):
    """kubepods.slice/... path (relative to the cgroup v2 root) as the systemd cgroup driver names it."""
    uid = pod["uid"].replace("-", "_")
    qos = pod["object"]["status"].get("qosClass", "BestEffort")
    if qos == "Guaranteed":
        slice_ = "%s/kubepods-pod%s.slice" % (config.KUBEPODS, uid)
    else:
        q = qos.lower()
        slice_ = "%s/kubepods-%s.slice/kubepods-%s-pod%s.slice" % (config.KUBEPODS, q, q, uid)
    return slice_, "%s/cri-containerd-%s.scope" % (slice_, cid)


def make_cgroup(rel):
    parts = rel.split("/")
    for i in range(1, len(parts) + 1):
        p = os.path.join(config.CGROUP_ROOT, *parts[:i])
        if not os.path.isdir(p):
            statefile.ledger_add("cgroup", p)
            os.mkdir(p)
    return os.path.join(config.CGROUP_ROOT, rel)


def start_container(st, pod, c, volumes, etc_mounts):
    """Start one container; return (Popen, container facts)."""
    argv, binary = resolve_binary(c)
    env = container_env(st, pod, c)
    argv = [expand_refs(a, env) for a in argv]
    cid = secrets.token_hex(32)
    slice_, rel = cgroup_path(pod, cid)
    cg = make_cgroup(rel)
    mounts = list(etc_mounts)
    for vm in c.get("volumeMounts") or []:
        src = volumes.get(vm["name"])
        if src is None:
            raise ContainerError("volumeMount %s: no such volume" % vm["name"])
        if vm.get("subPath"):
            src = os.path.join(src, vm["subPath"])
        ensure_mountpoint(vm["mountPath"], os.path.isdir(src))
        mounts.append([src, vm["mountPath"], bool(vm.get("readOnly"))])
    spec = {"cgroupProcs": os.path.join(cg, "cgroup.procs"),
            "netns": "/run/netns/" + pod["netns"], "sysfs": not pod["hostNetwork"],
            "mounts": mounts, "hostname": None if pod["hostNetwork"] else
            pod["object"]["spec"].get("hostname", pod["name"]),
            "env": env, "argv": argv, "binary": binary, "cwd": c.get("workingDir", "/")}
    if pod["hostNetwork"]:
        spec["hostname"] = pod["node"]
    specfile = os.path.join(pod_dir(pod), "%s.json" % c["name"])
    with open(specfile, "w") as f:
        json.dump(spec, f)
    os.makedirs(config.LOG_DIR, exist_ok=True)
    log = open(log_path(pod, c["name"]), "ab")
    try:
        proc = subprocess.Popen(config.python_module("simk8s.node.launch", specfile),
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True)
    finally:
        log.close()
    facts = {"name": c["name"], "containerID": "containerd://" + cid, "id": cid, "pid": proc.pid,
             "image": c.get("image", ""), "binary": binary, "cgroup": "/" + rel, "podCgroup": "/" + slice_,
             "startedAt": statefile.now_rfc3339(), "ready": False, "started": True, "state": "running"}
    return proc, facts


def log_path(pod, cname):
    return os.path.join(config.LOG_DIR, "%s_%s_%s.log" % (pod["namespace"], pod["name"], cname))


def cgroup_pids(path):
    try:
        with open(os.path.join(path, "cgroup.procs")) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def kill_cgroup(path, grace=2.0):
    """SIGTERM every process of a cgroup, SIGKILL what is left after the grace period."""
    pids = cgroup_pids(path)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + grace
        while time.time() < deadline:
            pids = cgroup_pids(path)
            if not pids:
                return
            time.sleep(0.05)
