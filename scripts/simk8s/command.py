"""simcluster: a simulated Kubernetes staging cluster of one or several nodes (network namespaces, cgroups, DNS, probes) built from manifests.

Usage: scripts/simcluster COMMAND [ARGS]
  up [--nodes N] [--scale NAME=REPLICAS]... [MANIFEST...]
                        build the node(s) and start the pods (default: test/cluster/manifests/*.yaml)
  down                  remove everything the cluster made (idempotent)
  status                node, pods and Services
  kubeconfig            print the kubeconfig path (written by the API server)
  exec [-c C] POD -- CMD...   run CMD in the pod's namespaces, cgroup and env
  client -- CMD...      run CMD in a separate workload namespace on the cluster network
  logs [-c C] POD       print a pod's container logs
  state                 print the path of state.json
See docs/simcluster.md.
"""
import glob
import json
import os
import signal
import subprocess
import sys
import time

from simk8s import config, statefile
from simk8s.node import kubeproxy, manifests, netsetup, runtime

UP_TIMEOUT = float(os.environ.get("SIMCLUSTER_UP_TIMEOUT", "60"))
DAEMONS = {  # pid file name -> module it runs: its command line must contain it (never kill a stranger)
    "kubelet": "simk8s.node.kubelet",
    "dns": "simk8s.node.dns",
    "apiserver": config.APISERVER_MODULE,
}


def die(msg, code=1):
    sys.stderr.write("simcluster: %s\n" % msg)
    sys.exit(code)


def need_root():
    if os.geteuid() != 0:
        die("must run as root (network namespaces, cgroups)")


# ---- daemons ----------------------------------------------------------------

def pidfile(name):
    return os.path.join(config.RUN_DIR, name + ".pid")


def spawn(name, argv, log_name=None):
    os.makedirs(config.LOG_DIR, exist_ok=True)
    with open(os.path.join(config.LOG_DIR, (log_name or name) + ".log"), "ab") as log:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True, close_fds=True, cwd=config.REPO)
    statefile.ledger_add("pid", "%s %d" % (name, p.pid))
    with open(pidfile(name), "w") as f:
        f.write("%d\n" % p.pid)
    return p


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None


def stop_pid(pid, marker, grace=2.0):
    c = cmdline(pid)
    if c is None or marker not in c:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.time() + grace
        while time.time() < deadline:
            c = cmdline(pid)
            if c is None or marker not in c or zombie(pid):
                return
            time.sleep(0.05)


def zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def daemon_module(name):
    """Module a daemon's command line must contain: `dns@sim-node-2` is the DNS server of node 2."""
    return DAEMONS.get(name.split("@")[0], name)


def agent_slot_manifest():
    """The agent slot: the node runs build/bpfmirror-agent as the chart's DaemonSet pod would.

    When the agent binary exists and supports --listen (and SIMCLUSTER_AGENT is not 0),
    test/cluster/agent/bpfmirror-agent.yaml (namespace bpfmirror, hostNetwork, chart labels)
    joins the manifests; the kubelet runs it like any pod, in the node's network namespace,
    listening on NODE_IP:47100. `up` does not wait for it to be Ready (it reports its state).
    """
    if os.environ.get("SIMCLUSTER_AGENT", "1") == "0" or not os.access(config.AGENT, os.X_OK):
        return None
    try:
        h = subprocess.run([config.AGENT, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    if "--listen" not in h:
        return None
    return config.AGENT_MANIFEST


# ---- up / down --------------------------------------------------------------

def lock():
    """One up/down at a time (another engineer's run, or a test, may race with ours)."""
    import fcntl
    os.makedirs(config.STATE_DIR, exist_ok=True)
    fd = os.open(os.path.join(config.STATE_DIR, "simcluster.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def stray_apiservers():
    """API servers started for our state file whose pid file is lost (e.g. build/ was wiped)."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            c = cmdline(int(d))
            if c and DAEMONS["apiserver"] in c and ("--state " + config.STATE_FILE) in c:
                out.append(int(d))
    return out


def cmd_down(_args, quiet=False):
    need_root()
    fd = lock()
    try:
        return down_locked(quiet)
    finally:
        os.close(fd)


def down_locked(quiet):
    try:
        os.unlink(config.UP_MARKER)
    except OSError:
        pass
    ledger = statefile.ledger_read()
    st = statefile.load()
    # 1. daemons first, so nothing restarts containers while we remove them.
    pids = {}
    for kind, v in ledger:
        if kind == "pid":
            name, pid = v.split()
            pids.setdefault(name, set()).add(int(pid))
    for name in DAEMONS:
        try:
            with open(pidfile(name)) as f:
                pids.setdefault(name, set()).add(int(f.read().strip()))
        except (OSError, ValueError):
            pass
    pids.setdefault("apiserver", set()).update(stray_apiservers())
    for name, ps in pids.items():
        for pid in ps:
            stop_pid(pid, daemon_module(name), 5.0 if name == "kubelet" else 2.0)
    # 2. every process of every container cgroup, then every process left in our namespaces.
    cgroups = [v for k, v in ledger if k == "cgroup"]
    if st:
        for p in st.get("pods", []):
            for c in p.get("containers", []):
                if c.get("cgroup"):
                    cgroups.append(os.path.join(config.CGROUP_ROOT, c["cgroup"].lstrip("/")))
    scopes = set()
    for cg in cgroups:
        base = os.path.join(config.CGROUP_ROOT, config.KUBEPODS)
        if cg.startswith(base) and os.path.isdir(cg):
            for d, _sub, _files in os.walk(cg):
                scopes.add(d)
    for cg in sorted(scopes, key=len, reverse=True):
        runtime.kill_cgroup(cg, 2.0)
    ns_list = [n for n in netsetup.list_netns() if netsetup.ours(n)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        left = False
        for n in ns_list:
            for pid in netsetup.netns_pids(n):
                left = True
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        if not left:
            break
        time.sleep(0.5)
    # 3. cgroups (deepest first), namespaces and links, mount points.
    for cg in sorted(scopes | set(cgroups), key=len, reverse=True):
        try:
            os.rmdir(cg)
        except FileNotFoundError:
            pass
        except OSError as e:
            sys.stderr.write("simcluster: cannot remove cgroup %s: %s\n" % (cg, e))
    netsetup.delete_all()
    for kind, v in reversed(ledger):
        if kind == "mountpoint":
            try:
                if os.path.isdir(v) and not os.path.islink(v):
                    os.rmdir(v)
                elif os.path.isfile(v) and os.path.getsize(v) == 0:
                    os.unlink(v)
            except OSError as e:
                sys.stderr.write("simcluster: cannot remove mount point %s: %s\n" % (v, e))
    for f in (config.STATE_FILE, config.LEDGER_FILE, config.KUBECONFIG):
        try:
            os.unlink(f)
        except OSError:
            pass
    subprocess.run(["rm", "-rf", config.RUN_DIR])
    if not quiet:
        print("simcluster: down")
    return 0


def check_binaries(pods):
    missing = []
    for p in pods:
        for c in p["object"]["spec"].get("containers", []):
            try:
                runtime.resolve_binary(c)
            except runtime.ContainerError as e:
                missing.append("%s/%s: %s" % (p["name"], c["name"], e))
    if missing:
        die("cannot run containers:\n  " + "\n  ".join(missing) + "\n(build them with: make)")


def node_object(node):
    md = {"name": node["name"], "uid": "0e5b7a1c-5a1d-4c1e-9a6e-51c1a5e0de%02x" % (node["index"] + 1),
          "creationTimestamp": statefile.now_rfc3339(),
          "labels": {"kubernetes.io/hostname": node["name"], "kubernetes.io/os": "linux",
                     "kubernetes.io/arch": "amd64"}}
    if node["index"] == 0:
        md["labels"]["node-role.kubernetes.io/control-plane"] = ""
    return {"apiVersion": "v1", "kind": "Node", "metadata": md,
            "spec": {"podCIDR": node["podCIDR"], "podCIDRs": [node["podCIDR"]]},
            "status": {"addresses": [{"type": "InternalIP", "address": node["internalIP"]},
                                     {"type": "Hostname", "address": node["name"]}],
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                       "nodeInfo": {"kubeletVersion": config.KUBE_VERSION, "containerRuntimeVersion":
                                    "containerd://simcluster", "operatingSystem": "linux",
                                    "architecture": "amd64", "kernelVersion": os.uname().release}}}


def node_entry(node, mode):
    e = {k: node[k] for k in ("name", "internalIP", "podCIDR", "netns", "bridge", "bridgeIP", "rootLink",
                              "rootLinkIP")}
    e.update({"cgroupRoot": config.CGROUP_ROOT, "cgroupVersion": 2, "cni": mode,
              "object": node_object(node)})
    return e


def initial_state(objects, pods, services, files, nodes, mode):
    entries = [node_entry(n, mode) for n in nodes]
    st = {
        "version": 1,
        "cluster": {"name": config.CLUSTER_NAME,
                    "podCIDR": config.POD_CIDR if len(nodes) == 1 else config.MULTI_POD_CIDR,
                    "serviceCIDR": config.SERVICE_CIDR,
                    "dnsIP": config.DNS_IP, "clusterDomain": config.CLUSTER_DOMAIN,
                    "kubernetesVersion": config.KUBE_VERSION, "manifests": files,
                    "createdAt": statefile.now_rfc3339()},
        "node": entries[0],
        "client": {"netns": config.CLIENT_NETNS, "ip": config.CLIENT_IP},
        "apiserver": {"listen": config.API_LISTEN, "kubeconfig": config.KUBECONFIG},
        "agent": {"address": "%s:%d" % (config.NODE_IP, config.AGENT_PORT),
                  "manifest": os.path.relpath(config.AGENT_MANIFEST, config.REPO)},
        "paths": {"state": config.STATE_FILE, "logs": config.LOG_DIR, "run": config.RUN_DIR},
        "objects": objects,
        "pods": pods,
        "services": services,
    }
    if len(nodes) > 1:
        st["nodes"] = entries
        st["cluster"]["fabric"] = {"netns": config.FABRIC_NETNS, "bridge": config.FABRIC_BRIDGE,
                                   "link": config.FABRIC_LINK}
    return st


def write_client_files():
    d = os.path.join(config.RUN_DIR, "client")
    os.makedirs(d, exist_ok=True)
    dom = config.CLUSTER_DOMAIN
    with open(os.path.join(d, "resolv.conf"), "w") as f:
        f.write("search default.svc.%s svc.%s %s\nnameserver %s\noptions ndots:5\n" % (dom, dom, dom, config.DNS_IP))


def cmd_up(args):
    need_root()
    fd = lock()
    try:
        return up_locked(args)
    finally:
        os.close(fd)


def parse_up_args(args):
    """(manifest files, node count, {name: replicas}) from `up [--nodes N] [--scale NAME=N]... [FILE...]`."""
    files, scale = [], {}
    nodes = os.environ.get("SIMCLUSTER_NODES", "1")
    it = iter(args)
    for a in it:
        if a == "--nodes":
            nodes = next(it, "")
        elif a.startswith("--nodes="):
            nodes = a.split("=", 1)[1]
        elif a == "--scale" or a.startswith("--scale="):
            v = a.split("=", 1)[1] if "=" in a else next(it, "")
            name, _, n = v.partition("=")
            if not name or not n.isdigit() or int(n) > 50:
                die("--scale takes NAME=REPLICAS (0..50), not %r" % v, 2)
            scale[name] = int(n)
        elif a.startswith("-"):
            die("unknown option %s (see --help)" % a, 2)
        else:
            files.append(a)
    if not nodes.isdigit() or not 1 <= int(nodes) <= config.MAX_NODES:
        die("--nodes takes 1..%d, not %r" % (config.MAX_NODES, nodes), 2)
    return files, int(nodes), scale


def up_locked(args):
    t0 = time.time()
    files, n_nodes, scale = parse_up_args(args)
    nodes = [config.node_facts(k) for k in range(n_nodes)]
    files = files or sorted(glob.glob(os.path.join(config.REPO, "test", "cluster", "manifests", "*.yaml")))
    if not files:
        die("no manifests")
    agent = agent_slot_manifest()
    if agent and agent not in files:
        files.append(agent)
    try:
        objects, pods, services = manifests.expand(manifests.load_files(files), nodes, scale)
    except (OSError, manifests.ManifestError) as e:
        die("manifests: %s" % e)
    check_binaries(pods)
    down_locked(quiet=True)
    os.makedirs(config.RUN_DIR, exist_ok=True)
    subprocess.run(["rm", "-rf", config.LOG_DIR])
    open(config.UP_MARKER, "w").close()
    ok = False
    try:
        want = os.environ.get("SIMCLUSTER_CNI", "bridge")
        modes = [netsetup.create_node(want, node) for node in nodes]
        # One pod network mode for the whole cluster: routed if any node lacks br_netfilter.
        mode = "routed" if "routed" in modes else "bridge"
        if len(nodes) > 1:
            netsetup.connect_nodes(nodes)
        by_name = {n["name"]: n for n in nodes}
        for p in pods:
            if not p["hostNetwork"]:
                netsetup.create_workload_ns(p["netns"], p["hostVeth"], p["podIP"], mode, by_name[p["node"]])
        # The client is a workload namespace on the first node's pod network, not a pod.
        netsetup.create_workload_ns(config.CLIENT_NETNS, manifests.host_veth_name(config.CLIENT_NETNS),
                                    config.CLIENT_IP, mode, nodes[0])
        write_client_files()
        st = initial_state(objects, pods, services, [os.path.relpath(f, config.REPO) for f in files], nodes,
                           mode)
        kubeproxy.apply(services, nodes)
        statefile.save(st)
        for node in nodes:  # a DNS server on every node, at the same Service address
            spawn("dns" if node["index"] == 0 else "dns@" + node["name"],
                  ["ip", "netns", "exec", node["netns"]] + config.python_module(DAEMONS["dns"]))
        # nsenter keeps /sys (and the cgroup mounts) visible; ip netns exec would remount it.
        spawn("kubelet", ["nsenter", "--net=/run/netns/" + config.NODE_NETNS] +
              config.python_module(DAEMONS["kubelet"]))
        spawn("apiserver", config.python_module(DAEMONS["apiserver"], "--state", config.STATE_FILE,
                                                "--listen", config.API_LISTEN,
                                                "--kubeconfig-out", config.KUBECONFIG))
        ok = wait_ready([p["name"] for p in pods if not is_agent(p)])
        report_agent(pods)
    except (netsetup.NetError, RuntimeError, OSError) as e:
        sys.stderr.write("simcluster: up failed: %s\n" % e)
    if not ok:
        cmd_status([])
        sys.stderr.write("simcluster: cluster not ready; logs in %s (remove with: scripts/simcluster down)\n" %
                         config.LOG_DIR)
        return 1
    print("simcluster: up in %.1fs: %d pods ready on %s (state: %s)" % (
        time.time() - t0, len(pods), ", ".join(n["name"] for n in nodes), config.STATE_FILE))
    return 0


def is_agent(pod):
    return pod["labels"].get("app.kubernetes.io/name") == "bpfmirror-agent"


def report_agent(pods):
    """Say whether the agent slot runs; never fail `up` because of the agent."""
    if not any(is_agent(p) for p in pods):
        return
    deadline = time.time() + 3.0
    while True:
        st = statefile.load() or {"pods": []}
        ag = [p for p in st["pods"] if is_agent(p)]
        if all(p["ready"] for p in ag) or time.time() > deadline:
            break
        time.sleep(0.1)
    for p in ag:
        print("simcluster: agent pod %s/%s on %s %s (listening on %s:%d; logs: scripts/simcluster logs -n %s %s)" %
              (p["namespace"], p["name"], p["node"], "ready" if p["ready"] else "NOT ready", p["hostIP"],
               config.AGENT_PORT, p["namespace"], p["name"]))


def wait_ready(names):
    deadline = time.time() + UP_TIMEOUT
    while time.time() < deadline:
        st = statefile.load()
        if st and all(p["ready"] for p in st["pods"] if p["name"] in names) and \
                os.path.exists(config.KUBECONFIG):
            return True
        daemons = [os.path.basename(f)[:-4] for f in glob.glob(os.path.join(config.RUN_DIR, "*.pid"))
                   if daemon_module(os.path.basename(f)[:-4]) != DAEMONS["apiserver"]]
        for name in daemons:
            try:
                with open(pidfile(name)) as f:
                    pid = int(f.read())
                if cmdline(pid) is None or zombie(pid):
                    sys.stderr.write("simcluster: %s died, see %s/%s.log\n" % (name, config.LOG_DIR, name))
                    return False
            except (OSError, ValueError):
                pass
        time.sleep(0.1)
    return False


# ---- inspection ---------------------------------------------------------------

def load_or_die():
    st = statefile.load()
    if st is None:
        die("no cluster (run: scripts/simcluster up)")
    return st


def cmd_status(_args):
    st = statefile.load()
    if st is None:
        print("simcluster: down")
        return 1
    for n in statefile.nodes(st):
        print("node %s  InternalIP %s  podCIDR %s  netns %s  pod network %s" % (
            n["name"], n["internalIP"], n["podCIDR"], n["netns"], n.get("cni", "bridge")))
    print("%-12s %-44s %-6s %-10s %-8s %-15s %s" % ("NAMESPACE", "POD", "READY", "STATUS", "RESTARTS", "IP",
                                                    "NODE"))
    for p in st["pods"]:
        cs = p.get("containers", [])
        print("%-12s %-44s %-6s %-10s %-8d %-15s %s" % (
            p["namespace"], p["name"], "%d/%d" % (sum(1 for c in cs if c.get("ready")), len(cs)),
            p["phase"], sum(c.get("restartCount", 0) for c in cs), p["podIP"], p.get("node", "")))
    print("%-12s %-24s %-16s %s" % ("NAMESPACE", "SERVICE", "CLUSTER-IP", "ENDPOINTS"))
    for s in st["services"]:
        eps = ",".join("%s:%d" % (e["ip"], pp["port"]) for e in s["endpoints"] if e["ready"] for pp in e["ports"])
        print("%-12s %-24s %-16s %s" % (s["namespace"], s["name"], s["clusterIP"], eps or "<none>"))
    print("api: https://%s  kubeconfig: %s" % (config.API_LISTEN, config.KUBECONFIG
                                                if os.path.exists(config.KUBECONFIG) else "(not written)"))
    return 0


def split_cmd(args):
    if "--" not in args:
        die("missing -- before the command")
    i = args.index("--")
    if not args[i + 1:]:
        die("missing command after --")
    return args[:i], args[i + 1:]


def parse_pod_opts(opts):
    container, ns, pod = None, None, None
    it = iter(opts)
    for a in it:
        if a == "-c":
            container = next(it, None)
        elif a == "-n":
            ns = next(it, None)
        elif pod is None:
            pod = a
        else:
            die("unexpected argument %s" % a)
    if pod is None:
        die("missing POD")
    return pod, container, ns


def find_pod(st, name, ns):
    """Exact pod name, else `deployment/x`, `statefulset/x` or a name prefix: the first ready match."""
    pods = [p for p in st["pods"] if ns is None or p["namespace"] == ns]
    for p in pods:
        if p["name"] == name:
            return p
    kind, _, short = name.rpartition("/")
    cands = [p for p in pods if p["name"].startswith(short + "-") and
             (not kind or kind.lower() in ("deployment", "deploy", "statefulset", "sts", "daemonset", "ds", "pod"))]
    cands.sort(key=lambda p: not p["ready"])
    if not cands:
        die("no pod %s" % name)
    return cands[0]


def find_container(pod, name):
    cs = pod.get("containers", [])
    for c in cs:
        if name is None or c["name"] == name:
            return c
    die("pod %s has no container %s" % (pod["name"], name))


def cmd_exec(args):
    need_root()
    opts, cmd = split_cmd(args)
    podname, cname, ns = parse_pod_opts(opts)
    st = load_or_die()
    pod = find_pod(st, podname, ns)
    c = find_container(pod, cname)
    if not c.get("pid"):
        die("container %s of %s is not running" % (c["name"], pod["name"]))
    cspec = next(x for x in pod["object"]["spec"]["containers"] if x["name"] == c["name"])
    env = runtime.container_env(st, pod, cspec)
    if os.environ.get("TERM"):
        env["TERM"] = os.environ["TERM"]
    spec = {"nsPid": c["pid"], "cgroupProcs": os.path.join(config.CGROUP_ROOT, c["cgroup"].lstrip("/"),
                                                           "cgroup.procs"),
            "env": env, "argv": cmd, "cwd": cspec.get("workingDir", "/")}
    return exec_launcher(spec, "exec")


def exec_launcher(spec, tag):
    d = os.path.join(config.RUN_DIR, "exec")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "%s-%d.json" % (tag, os.getpid()))
    with open(path, "w") as f:
        json.dump(spec, f)
    # The launcher reads its spec before any namespace change; the file is removed with the run dir.
    argv = config.python_module("simk8s.node.launch", path)
    os.execvp(argv[0], argv)


def cmd_client(args):
    need_root()
    _opts, cmd = split_cmd(args)
    load_or_die()
    spec = {"netns": "/run/netns/" + config.CLIENT_NETNS, "hostname": config.CLIENT_NETNS,
            "mounts": [[os.path.join(config.RUN_DIR, "client", "resolv.conf"), "/etc/resolv.conf", False]],
            "env": {}, "inheritEnv": True, "argv": cmd, "cwd": os.getcwd()}
    return exec_launcher(spec, "client")


def cmd_logs(args):
    podname, cname, ns = parse_pod_opts(args)
    st = load_or_die()
    pod = find_pod(st, podname, ns)
    rc = 1
    for c in pod["object"]["spec"]["containers"]:
        if cname and c["name"] != cname:
            continue
        try:
            with open(runtime.log_path(pod, c["name"]), "rb") as f:
                sys.stdout.buffer.write(f.read())
            rc = 0
        except OSError as e:
            sys.stderr.write("simcluster: %s\n" % e)
    sys.stdout.flush()
    return rc


def cmd_kubeconfig(_args):
    print(config.KUBECONFIG)
    if not os.path.exists(config.KUBECONFIG):
        sys.stderr.write("simcluster: kubeconfig not written (cluster down, or no API server)\n")
        return 1
    return 0


def cmd_state(_args):
    print(config.STATE_FILE)
    return 0 if os.path.exists(config.STATE_FILE) else 1


COMMANDS = {"up": cmd_up, "down": cmd_down, "status": cmd_status, "kubeconfig": cmd_kubeconfig,
            "exec": cmd_exec, "client": cmd_client, "logs": cmd_logs, "state": cmd_state}


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
        sys.stdout.write(__doc__)
        return 0 if len(argv) >= 2 else 2
    fn = COMMANDS.get(argv[1])
    if fn is None:
        die("unknown command %s (see --help)" % argv[1], 2)
    return fn(argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
