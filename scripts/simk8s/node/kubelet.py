"""The simulated kubelet: starts every pod's containers, runs their probes (kube-probe UA), restarts them, keeps pod status and Service endpoints in state.json.

Runs inside the first node's namespace, as a bounded background process started by
`simcluster up` and stopped by `simcluster down`. It serves every node: a probe runs in a
thread that has joined the network namespace of its pod's node (so probes come from that
node's cni0 address, 10.244.<k>.1), and kube-proxy's table is written on every node.
"""
import ctypes
import http.client
import json
import os
import queue
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

from simk8s import config, statefile
from simk8s.node import kubeproxy, manifests, runtime

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
BACKOFF_MAX = 20.0  # real kubelet: 10 s doubling to 5 min; short here so tests recover fast
FAST_READY_PERIOD = 0.2  # until the first readiness success (keeps `up` to a few seconds)


def log(msg):
    sys.stdout.write("%s kubelet: %s\n" % (statefile.now_rfc3339(), msg))
    sys.stdout.flush()


class Container:
    def __init__(self, pod, spec):
        self.pod = pod
        self.spec = spec
        self.proc = None
        self.facts = None
        self.restarts = 0
        self.last_state = {}
        self.next_start = 0.0
        self.backoff = 1.0
        self.probe = {}  # kind -> dict(next, fails, oks, inflight, ever_ok)
        self.ready = False
        self.waiting = None

    def probe_spec(self, kind):
        return self.spec.get(kind + "Probe")


class Kubelet:
    def __init__(self, st):
        self.st = st
        self.results = queue.Queue()
        self.containers = []
        self.dirty = True
        self.endpoints_key = None
        self.volumes = {}
        self.etc = {}
        self.nodes = statefile.nodes(st)
        self.node_netns = {n["name"]: n["netns"] for n in self.nodes}
        for pod in st["pods"]:
            for c in pod["object"]["spec"].get("containers", []):
                self.containers.append(Container(pod, c))

    # ---- containers -------------------------------------------------------
    def start(self, c, now):
        pod = c.pod
        try:
            if pod["uid"] not in self.volumes:
                runtime.make_pod_log_dir(pod)
                self.volumes[pod["uid"]] = runtime.prepare_volumes(self.st, pod)
                self.etc[pod["uid"]] = runtime.write_etc_files(pod)
            c.proc, c.facts = runtime.start_container(self.st, pod, c.spec, self.volumes[pod["uid"]],
                                                      self.etc[pod["uid"]])
            c.waiting = None
            c.ready = False
            t0 = now
            for kind in ("readiness", "liveness"):
                ps = c.probe_spec(kind)
                if ps:
                    c.probe[kind] = {"next": t0 + float(ps.get("initialDelaySeconds", 0)), "fails": 0,
                                     "oks": 0, "inflight": False, "ever_ok": False}
            if not c.probe_spec("readiness"):
                c.ready = True
            log("started %s/%s container %s pid %d" % (pod["namespace"], pod["name"], c.spec["name"],
                                                       c.proc.pid))
        except (runtime.ContainerError, OSError) as e:
            c.proc = None
            c.waiting = {"reason": "CreateContainerError", "message": str(e)}
            c.next_start = now + c.backoff
            c.backoff = min(c.backoff * 2, BACKOFF_MAX)
            log("cannot start %s/%s %s: %s" % (pod["namespace"], pod["name"], c.spec["name"], e))
        self.dirty = True

    def reap(self, now):
        for c in self.containers:
            if c.proc is None or c.proc.poll() is None:
                continue
            rc = c.proc.returncode
            log("container %s of %s exited (%s)" % (c.spec["name"], c.pod["name"], rc))
            # Leftover processes of the container (it may have forked) go with it.
            runtime.kill_cgroup(os.path.join(config.CGROUP_ROOT, c.facts["cgroup"].lstrip("/")), 1.0)
            c.last_state = {"terminated": {"exitCode": rc if rc >= 0 else 128 - rc,
                                           "reason": "Completed" if rc == 0 else "Error",
                                           "startedAt": c.facts["startedAt"], "finishedAt": statefile.now_rfc3339(),
                                           "containerID": c.facts["containerID"]}}
            try:
                os.rmdir(os.path.join(config.CGROUP_ROOT, c.facts["cgroup"].lstrip("/")))
            except OSError:
                pass
            c.proc = None
            c.ready = False
            c.probe = {}
            policy = c.pod["object"]["spec"].get("restartPolicy", "Always")
            if policy == "Always" or (policy == "OnFailure" and rc != 0):
                c.restarts += 1
                c.waiting = {"reason": "CrashLoopBackOff", "message": "back-off %.0fs" % c.backoff}
                c.next_start = now + c.backoff
                c.backoff = min(c.backoff * 2, BACKOFF_MAX)
            else:
                c.waiting = None
                c.next_start = float("inf")
            self.dirty = True

    # ---- probes -----------------------------------------------------------
    def port_of(self, c, port):
        if isinstance(port, int) or str(port).isdigit():
            return int(port)
        for p in c.spec.get("ports") or []:
            if p.get("name") == port:
                return int(p["containerPort"])
        raise ValueError("unknown port name %s" % port)

    def join_node(self, pod):
        """Move the calling probe thread into the network namespace of the pod's node (setns is per thread)."""
        netns = self.node_netns.get(pod["node"], config.NODE_NETNS)
        if netns == config.NODE_NETNS:
            return  # the kubelet runs there
        fd = os.open("/run/netns/" + netns, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, "setns %s: %s" % (netns, os.strerror(err)))
        finally:
            os.close(fd)

    def run_probe(self, c, kind, ps):
        ok = False
        detail = ""
        timeout = float(ps.get("timeoutSeconds", 1))
        try:
            self.join_node(c.pod)
            if "httpGet" in ps:
                g = ps["httpGet"]
                host = g.get("host") or c.pod["podIP"]
                port = self.port_of(c, g.get("port", 80))
                if g.get("scheme", "HTTP").upper() == "HTTPS":
                    conn = http.client.HTTPSConnection(host, port, timeout=timeout,
                                                       context=ssl._create_unverified_context())
                else:
                    conn = http.client.HTTPConnection(host, port, timeout=timeout)
                conn.putrequest("GET", g.get("path", "/"), skip_accept_encoding=True)
                hdrs = {"User-Agent": config.PROBE_UA, "Accept": "*/*", "Connection": "close"}
                for h in g.get("httpHeaders") or []:
                    hdrs[h["name"]] = h["value"]
                for k, v in hdrs.items():
                    conn.putheader(k, v)
                conn.endheaders()
                r = conn.getresponse()
                r.read(10240)
                conn.close()
                ok = 200 <= r.status < 400
                detail = "HTTP %d" % r.status
            elif "tcpSocket" in ps:
                t = ps["tcpSocket"]
                s = socket.create_connection((t.get("host") or c.pod["podIP"], self.port_of(c, t["port"])),
                                             timeout=timeout)
                s.close()
                ok = True
            elif "exec" in ps:
                ok = self.exec_probe(c, ps["exec"].get("command") or [], timeout)
        except (OSError, ValueError, http.client.HTTPException) as e:
            detail = str(e)
        self.results.put((c, kind, ok, detail))

    def exec_probe(self, c, cmd, timeout):
        if c.proc is None or not cmd:
            return False
        spec = {"nsPid": c.proc.pid, "cgroupProcs": os.path.join(config.CGROUP_ROOT, c.facts["cgroup"].lstrip("/"),
                                                                 "cgroup.procs"),
                "env": runtime.container_env(self.st, c.pod, c.spec), "argv": cmd}
        path = os.path.join(runtime.pod_dir(c.pod), "%s.probe.json" % c.spec["name"])
        with open(path, "w") as f:
            json.dump(spec, f)
        try:
            p = subprocess.run(config.python_module("simk8s.node.launch", path),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout + 1)
            return p.returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def schedule_probes(self, now):
        for c in self.containers:
            if c.proc is None:
                continue
            for kind, pr in c.probe.items():
                if pr["inflight"] or now < pr["next"]:
                    continue
                ps = c.probe_spec(kind)
                pr["inflight"] = True
                period = float(ps.get("periodSeconds", 10))
                if kind == "readiness" and not pr["ever_ok"]:
                    period = min(period, FAST_READY_PERIOD)
                pr["next"] = now + period
                threading.Thread(target=self.run_probe, args=(c, kind, ps), daemon=True).start()

    def collect_probes(self):
        while True:
            try:
                c, kind, ok, detail = self.results.get_nowait()
            except queue.Empty:
                return
            pr = c.probe.get(kind)
            if pr is None or c.proc is None:
                continue
            pr["inflight"] = False
            ps = c.probe_spec(kind)
            if ok:
                pr["oks"] += 1
                pr["fails"] = 0
            else:
                pr["fails"] += 1
                pr["oks"] = 0
            if kind == "readiness":
                if ok and pr["oks"] >= int(ps.get("successThreshold", 1)) and not c.ready:
                    c.ready = True
                    pr["ever_ok"] = True
                    c.backoff = 1.0
                    self.dirty = True
                    log("%s/%s ready" % (c.pod["name"], c.spec["name"]))
                elif not ok and c.ready and pr["fails"] >= int(ps.get("failureThreshold", 3)):
                    c.ready = False
                    self.dirty = True
                    log("%s/%s not ready: %s" % (c.pod["name"], c.spec["name"], detail))
            elif kind == "liveness" and not ok and pr["fails"] >= int(ps.get("failureThreshold", 3)):
                log("%s/%s liveness failed (%s): killing" % (c.pod["name"], c.spec["name"], detail))
                runtime.kill_cgroup(os.path.join(config.CGROUP_ROOT, c.facts["cgroup"].lstrip("/")), 0.5)

    # ---- status -----------------------------------------------------------
    def sync_status(self):
        for pod in self.st["pods"]:
            mine = [c for c in self.containers if c.pod is pod]
            statuses = []
            for c in mine:
                s = {"name": c.spec["name"], "image": c.spec.get("image", ""),
                     "imageID": "", "ready": bool(c.proc and c.ready), "restartCount": c.restarts,
                     "started": c.proc is not None}
                if c.proc is not None:
                    s["containerID"] = c.facts["containerID"]
                    s["imageID"] = "simcluster://" + c.facts["binary"]
                    s["state"] = {"running": {"startedAt": c.facts["startedAt"]}}
                else:
                    s["state"] = {"waiting": c.waiting or {"reason": "ContainerCreating"}}
                s["lastState"] = c.last_state
                statuses.append(s)
            pod["containers"] = [dict(c.facts, ready=bool(c.proc and c.ready), restartCount=c.restarts,
                                      state="running") if c.proc is not None else
                                 {"name": c.spec["name"], "state": "waiting", "restartCount": c.restarts,
                                  "ready": False, "containerID": None, "pid": None,
                                  "reason": (c.waiting or {}).get("reason")} for c in mine]
            running = all(c.proc is not None for c in mine)
            ready = running and all(c.ready for c in mine)
            pod["phase"] = "Running" if running else pod["phase"] if pod["phase"] == "Running" else "Pending"
            pod["ready"] = ready
            ts = statefile.now_rfc3339()
            status = pod["object"]["status"]
            old = {c["type"]: c for c in status.get("conditions", [])}

            def cond(t, ok):
                v = "True" if ok else "False"
                o = old.get(t)
                lt = o["lastTransitionTime"] if o and o["status"] == v else ts
                return {"type": t, "status": v, "lastProbeTime": None, "lastTransitionTime": lt}
            status.update({"phase": pod["phase"], "hostIP": pod["hostIP"], "hostIPs": [{"ip": pod["hostIP"]}],
                           "podIP": pod["podIP"], "podIPs": [{"ip": pod["podIP"]}],
                           "startTime": status.get("startTime", ts), "containerStatuses": statuses,
                           "conditions": [cond("PodReadyToStartContainers", True), cond("Initialized", True),
                                          cond("Ready", ready), cond("ContainersReady", ready),
                                          cond("PodScheduled", True)]})
        for svc in self.st["services"]:
            svc["endpoints"] = manifests.endpoints(svc, self.st["pods"])
        self.workload_status()
        key = json.dumps([(s["name"], s["endpoints"]) for s in self.st["services"]], sort_keys=True)
        if key != self.endpoints_key:
            try:
                kubeproxy.apply(self.st["services"], self.nodes)
                self.endpoints_key = key
            except RuntimeError as e:
                log(str(e))

    def workload_status(self):
        by_owner = {}
        for p in self.st["pods"]:
            for o in p["ownerReferences"]:
                by_owner.setdefault(o["uid"], []).append(p)
        for o in self.st["objects"]:
            if o["kind"] not in ("ReplicaSet", "StatefulSet", "DaemonSet", "Deployment"):
                continue
            uid = o["metadata"]["uid"]
            ps = by_owner.get(uid, [])
            if o["kind"] == "Deployment":
                ps = [p for rs in self.st["objects"] if rs["kind"] == "ReplicaSet" and
                      any(r["uid"] == uid for r in rs["metadata"].get("ownerReferences", []))
                      for p in by_owner.get(rs["metadata"]["uid"], [])]
            n, r = len(ps), sum(1 for p in ps if p["ready"])
            if o["kind"] == "DaemonSet":
                o["status"] = {"currentNumberScheduled": n, "desiredNumberScheduled": n, "numberReady": r,
                               "numberAvailable": r, "updatedNumberScheduled": n, "numberMisscheduled": 0,
                               "observedGeneration": 1}
            else:
                o["status"] = {"replicas": n, "readyReplicas": r, "availableReplicas": r,
                               "updatedReplicas": n, "observedGeneration": 1}
                if o["kind"] == "ReplicaSet":
                    o["status"]["fullyLabeledReplicas"] = n

    def stop_all(self):
        """On SIGTERM (simcluster down): stop every container and reap it, like a node drain."""
        live = [c for c in self.containers if c.proc is not None]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for c in live:
                for pid in runtime.cgroup_pids(os.path.join(config.CGROUP_ROOT, c.facts["cgroup"].lstrip("/"))):
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
            deadline = time.time() + 2.0
            while time.time() < deadline and any(c.proc.poll() is None for c in live):
                time.sleep(0.05)
        log("stopped %d containers" % len(live))

    # ---- loop -------------------------------------------------------------
    def run(self):
        deadline = time.time() + config.DAEMON_MAX_SECONDS
        now = time.time()
        for c in self.containers:
            self.start(c, now)
        last_check = 0.0
        while time.time() < deadline:
            if STOP.is_set():
                self.stop_all()
                return 0
            now = time.time()
            self.reap(now)
            for c in self.containers:
                if c.proc is None and now >= c.next_start:
                    self.start(c, now)
            self.schedule_probes(now)
            self.collect_probes()
            if self.dirty:
                self.dirty = False
                self.sync_status()
                statefile.save(self.st)
            if now - last_check > 1.0:
                last_check = now
                if not os.path.exists(config.UP_MARKER):
                    log("cluster marker gone, exiting")
                    self.stop_all()
                    return 0
            time.sleep(0.05)
        log("lifetime bound reached, exiting")
        return 0


STOP = threading.Event()


def main():
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *a: STOP.set())
    st = statefile.load()
    if st is None:
        log("no state at %s" % config.STATE_FILE)
        return 1
    return Kubelet(st).run()


if __name__ == "__main__":
    sys.exit(main())
