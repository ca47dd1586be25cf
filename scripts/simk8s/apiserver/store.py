"""Turns the simcluster state file into Kubernetes API objects, re-reading it when it changes."""

import copy
import hashlib
import json
import os
import sys
import threading
import time

from simk8s.apiserver.pods import PodsMixin
from simk8s.apiserver.util import (as_time, derived_uid, make_meta, named_port, node_arch, pod_ready,
                            rfc3339)
from simk8s.apiserver.workloads import WorkloadsMixin

CLUSTER_SCOPED = {"Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding",
                  "StorageClass", "PriorityClass", "CustomResourceDefinition"}
SYSTEM_NAMESPACES = ["default", "kube-node-lease", "kube-public", "kube-system"]
KUBELET_VERSION = "v1.32.0"


class ClusterView(PodsMixin, WorkloadsMixin):
    """Every API object of one state snapshot, grouped by plural resource name."""

    def __init__(self, state, created):
        self.state = state if isinstance(state, dict) else {}
        self.created = created
        self.objects = {}
        self.uids = {}
        self._manifests = []
        self._index_manifests()
        self._collect_owner_uids()
        node = self.state.get("node") if isinstance(self.state.get("node"), dict) else {}
        # Without a "node" entry the pods still say where they run.
        pods = [p for p in self.state.get("pods") or [] if isinstance(p, dict)]
        self.node_name = node.get("name") or next(
            (p.get("nodeName") or p.get("node") for p in pods
             if p.get("nodeName") or p.get("node")), "sim-node-1")
        self.node_ip = node.get("internalIP") or next(
            (p["hostIP"] for p in pods if p.get("hostIP")), "")
        self._build()

    # -- helpers -------------------------------------------------------------
    def _add(self, resource, obj):
        self.objects.setdefault(resource, []).append(obj)

    def uid_of(self, kind, namespace, name, given=None):
        key = (kind, namespace or "", name)
        if key not in self.uids:
            self.uids[key] = given or derived_uid(kind, namespace, name)
        return self.uids[key]

    def _owner_ref(self, owner, namespace):
        if not isinstance(owner, dict) or not owner.get("kind") or not owner.get("name"):
            return None
        kind = owner["kind"]
        group = "v1" if kind in ("Node",) else "apps/v1"
        return {"apiVersion": owner.get("apiVersion", group), "kind": kind,
                "name": owner["name"], "uid": self.uid_of(kind, namespace, owner["name"],
                                                          owner.get("uid")),
                "controller": owner.get("controller", True),
                "blockOwnerDeletion": owner.get("blockOwnerDeletion", True)}

    def manifests(self, kind):
        return [m for m in self._manifests if m["kind"] == kind]

    # -- indexing ------------------------------------------------------------
    def _index_manifests(self):
        for raw in self.state.get("objects") or []:
            if not isinstance(raw, dict) or not isinstance(raw.get("kind"), str):
                continue
            obj = copy.deepcopy(raw)
            meta = obj.setdefault("metadata", {})
            if not isinstance(meta, dict) or not meta.get("name"):
                continue
            if obj["kind"] in CLUSTER_SCOPED:
                meta.pop("namespace", None)
            else:
                meta.setdefault("namespace", "default")
            self._manifests.append(obj)

    def _collect_owner_uids(self):
        # A uid in the manifest wins, then a uid simcluster gave in an owner
        # reference, then the derived one: ownerReferences always resolve.
        for obj in self._manifests:
            meta = obj["metadata"]
            if meta.get("uid"):
                self.uid_of(obj["kind"], meta.get("namespace"), meta["name"], meta["uid"])
        for entry in (self.state.get("replicasets") or []) + (self.state.get("pods") or []):
            if not isinstance(entry, dict):
                continue
            owner = entry.get("owner")
            if isinstance(owner, dict) and owner.get("uid") and owner.get("name"):
                self.uid_of(owner.get("kind", ""), entry.get("namespace", "default"),
                            owner["name"], owner["uid"])
        for entry in self.state.get("replicasets") or []:
            if isinstance(entry, dict) and entry.get("uid") and entry.get("name"):
                self.uid_of("ReplicaSet", entry.get("namespace", "default"), entry["name"],
                            entry["uid"])

    # -- build ---------------------------------------------------------------
    def _build(self):
        self._build_pods()
        self._build_replicasets()
        self._build_workloads()
        self._build_services()
        self._build_simple("ConfigMap", "configmaps")
        self._build_simple("Secret", "secrets")
        self._build_namespaces()
        self._build_serviceaccounts()
        self._build_nodes()
        for items in self.objects.values():
            items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))

    def _manifest_meta(self, obj):
        meta = obj["metadata"]
        meta["uid"] = self.uid_of(obj["kind"], meta.get("namespace"), meta["name"])
        meta["resourceVersion"] = ""
        meta["creationTimestamp"] = as_time(meta.get("creationTimestamp"), self.created)
        if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
            meta.setdefault("generation", 1)
        return meta

    def _build_simple(self, kind, resource):
        for obj in self.manifests(kind):
            self._manifest_meta(obj)
            self._add(resource, obj)

    def _build_namespaces(self):
        names = set(SYSTEM_NAMESPACES)
        declared = {}
        for obj in self.manifests("Namespace"):
            declared[obj["metadata"]["name"]] = obj
        for items in self.objects.values():
            for o in items:
                if o["metadata"].get("namespace"):
                    names.add(o["metadata"]["namespace"])
        names |= set(declared)
        for name in names:
            obj = declared.get(name) or {"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": name}}
            meta = self._manifest_meta(obj)
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
            obj["spec"] = {"finalizers": ["kubernetes"]}
            obj["status"] = {"phase": "Active"}
            self._add("namespaces", obj)

    def _build_serviceaccounts(self):
        declared = {(o["metadata"]["namespace"], o["metadata"]["name"])
                    for o in self.manifests("ServiceAccount")}
        self._build_simple("ServiceAccount", "serviceaccounts")
        for ns in self.objects.get("namespaces", []):
            key = (ns["metadata"]["name"], "default")
            if key not in declared:
                obj = {"apiVersion": "v1", "kind": "ServiceAccount",
                       "metadata": {"name": "default", "namespace": key[0]}}
                self._manifest_meta(obj)
                self._add("serviceaccounts", obj)

    def _build_nodes(self):
        """A Node per entry of `nodes` (several nodes), else the one `node` (or what the pods say)."""
        nodes = [n for n in self.state.get("nodes") or [] if isinstance(n, dict) and n.get("name")]
        if not nodes:
            self._build_node({}, self.node_name, self.node_ip)
        for n in nodes:
            self._build_node(n, n["name"], n.get("internalIP", ""))

    def _build_node(self, node, name, ip):
        if not node:
            node = self.state.get("node") if isinstance(self.state.get("node"), dict) else {}
        cidr = node.get("podCIDR", "")
        uname = os.uname()
        arch = node_arch()
        labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                  "kubernetes.io/arch": arch, "beta.kubernetes.io/os": "linux",
                  "beta.kubernetes.io/arch": arch}
        labels.update(node.get("labels") or {})
        cond_time = self.created
        conds = []
        for ctype, status, reason, msg in (
                ("MemoryPressure", "False", "KubeletHasSufficientMemory",
                 "kubelet has sufficient memory available"),
                ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                ("PIDPressure", "False", "KubeletHasSufficientPID",
                 "kubelet has sufficient PID available"),
                ("Ready", "True", "KubeletReady", "kubelet is posting ready status")):
            conds.append({"type": ctype, "status": status, "lastHeartbeatTime": rfc3339(time.time()),
                          "lastTransitionTime": cond_time, "reason": reason, "message": msg})
        try:
            mem_kib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 1024
        except (ValueError, OSError):
            mem_kib = 0
        capacity = {"cpu": str(os.cpu_count() or 1), "memory": "%dKi" % mem_kib, "pods": "110",
                    "ephemeral-storage": "0"}
        obj = {"kind": "Node", "apiVersion": "v1",
               "metadata": make_meta("Node", name, None,
                                 self.uid_of("Node", None, name), self.created, labels,
                                 {"node.alpha.kubernetes.io/ttl": "0"}),
               "spec": {}, "status": {
                   "capacity": capacity, "allocatable": dict(capacity), "conditions": conds,
                   "addresses": [{"type": "InternalIP", "address": ip},
                                 {"type": "Hostname", "address": name}],
                   "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                   "nodeInfo": {"machineID": "", "systemUUID": "", "bootID": "",
                                "kernelVersion": uname.release, "osImage": "simcluster",
                                "containerRuntimeVersion": "containerd://1.7.24",
                                "kubeletVersion": node.get("kubeletVersion", KUBELET_VERSION),
                                "kubeProxyVersion": node.get("kubeletVersion",
                                                             KUBELET_VERSION),
                                "operatingSystem": "linux", "architecture": arch}}}
        if cidr:
            obj["spec"] = {"podCIDR": cidr, "podCIDRs": [cidr]}
        self._add("nodes", obj)

    # -- services ------------------------------------------------------------
    def _build_services(self):
        ips = {}
        for e in self.state.get("services") or []:
            if isinstance(e, dict) and e.get("name"):
                ips[(e.get("namespace") or "default", e["name"])] = e
        for svc in self.manifests("Service"):
            meta = self._manifest_meta(svc)
            ns, name = meta["namespace"], meta["name"]
            spec = svc.setdefault("spec", {})
            known = ips.get((ns, name), {})
            spec.setdefault("type", "ClusterIP")
            if known.get("clusterIP"):
                spec["clusterIP"] = known["clusterIP"]
            if spec.get("clusterIP"):
                spec["clusterIPs"] = [spec["clusterIP"]]
            for port in spec.get("ports") or []:
                port.setdefault("protocol", "TCP")
                port.setdefault("targetPort", port.get("port"))
            spec.setdefault("sessionAffinity", "None")
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("internalTrafficPolicy", "Cluster")
            svc["status"] = {"loadBalancer": {}}
            self._add("services", svc)
            self._add("endpoints", self._endpoints(svc))

    def _endpoints(self, svc):
        meta = svc["metadata"]
        ns = meta["namespace"]
        selector = (svc.get("spec") or {}).get("selector")
        obj = {"kind": "Endpoints", "apiVersion": "v1",
               "metadata": make_meta("Endpoints", meta["name"], ns,
                                 self.uid_of("Endpoints", ns, meta["name"]), meta[
                                     "creationTimestamp"], meta.get("labels"))}
        if not selector:
            return obj
        ready, unready = [], []
        pods = [p for p in self.objects.get("pods", []) if p["metadata"]["namespace"] == ns
                and p["status"].get("podIP")
                and all((p["metadata"].get("labels") or {}).get(k) == v
                        for k, v in selector.items())]
        for p in pods:
            addr = {"ip": p["status"]["podIP"], "nodeName": p["spec"].get("nodeName"),
                    "targetRef": {"kind": "Pod", "namespace": ns, "name": p["metadata"]["name"],
                                  "uid": p["metadata"]["uid"]}}
            (ready if pod_ready(p) else unready).append(addr)
        ports = []
        for port in svc["spec"].get("ports") or []:
            target = port.get("targetPort")
            if isinstance(target, str) and pods:
                target = named_port(pods[0], target) or port.get("port")
            entry = {"port": target, "protocol": port.get("protocol", "TCP")}
            if port.get("name"):
                entry["name"] = port["name"]
            ports.append(entry)
        if ready or unready:
            subset = {}
            if ready:
                subset["addresses"] = ready
            if unready:
                subset["notReadyAddresses"] = unready
            subset["ports"] = ports
            obj["subsets"] = [subset]
        return obj




class StateStore:
    """Caches the ClusterView of the state file; rebuilds it when the file changes."""

    def __init__(self, path, log=None):
        self.path = path
        self.log = log or (lambda msg: sys.stderr.write(msg + "\n"))
        self.created = rfc3339(time.time())
        self.lock = threading.Lock()
        self.stamp = None
        self.view = ClusterView({}, self.created)
        self.rv = 1000
        self.object_rv = {}
        self.changed = threading.Condition(self.lock)
        self._assign_rvs()

    def _assign_rvs(self):
        # Each object keeps its resourceVersion until its content changes.
        fresh = {}
        for res, items in self.view.objects.items():
            for obj in items:
                digest = hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()
                uid = obj["metadata"]["uid"]
                old = self.object_rv.get(uid)
                if old and old[0] == digest:
                    rv = old[1]
                else:
                    self.rv += 1
                    rv = self.rv
                fresh[uid] = (digest, rv)
                obj["metadata"]["resourceVersion"] = str(rv)
        self.object_rv = fresh

    def current(self):
        """The view for the file as it is now (re-read if its mtime/size/inode changed)."""
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            stamp = None
        with self.lock:
            if stamp == self.stamp:
                return self.view
            state = {}
            if stamp is not None:
                try:
                    with open(self.path, encoding="utf-8") as f:
                        state = json.load(f)
                    if not isinstance(state, dict):
                        raise ValueError("top level is not an object")
                except (OSError, ValueError) as err:
                    # Probably a write in progress: keep serving the old view.
                    self.log("apiserver: state %s unreadable (%s); keeping the previous one"
                             % (self.path, err))
                    return self.view
            created = state.get("createdAt")
            self.view = ClusterView(state, as_time(created, self.created))
            self.stamp = stamp
            self._assign_rvs()
            self.changed.notify_all()
            return self.view

    def resource_version(self):
        return str(self.rv)

