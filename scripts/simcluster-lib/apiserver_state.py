"""Turns the simcluster state file into Kubernetes API objects, re-reading it when it changes."""

import copy
import datetime
import hashlib
import json
import os
import platform
import sys
import threading
import time
import uuid

CLUSTER_SCOPED = {"Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding",
                  "StorageClass", "PriorityClass", "CustomResourceDefinition"}
SYSTEM_NAMESPACES = ["default", "kube-node-lease", "kube-public", "kube-system"]
KUBELET_VERSION = "v1.32.0"
_HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def derived_uid(kind, namespace, name):
    """The uid given to an object that has none: uuid5(URL, 'simcluster:KIND/NS/NAME')."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "simcluster:%s/%s/%s" % (kind, namespace or "", name)))


def rfc3339(ts):
    return datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def parse_time(text):
    """Seconds since the epoch for an RFC 3339 time, or None."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _time(value, default):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return rfc3339(value)
    if isinstance(value, str) and parse_time(value) is not None:
        return value
    return default


def template_hash(template):
    """A pod-template-hash shaped like the controller's (10 chars of its safe alphabet)."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(_HASH_ALPHABET[b % len(_HASH_ALPHABET)] for b in digest[:10])


def _arch():
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _omit_zero(status, *names):
    for name in names:
        if not status.get(name):
            status.pop(name, None)
    return status


def _meta(kind, name, namespace, uid, created, labels=None, annotations=None, owner=None):
    meta = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    meta["uid"] = uid
    meta["resourceVersion"] = ""
    meta["generation"] = 1
    meta["creationTimestamp"] = created
    if labels:
        meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    if owner:
        meta["ownerReferences"] = [owner]
    if kind in ("Pod", "Namespace", "Node", "ConfigMap", "Service", "Endpoints",
                "ServiceAccount", "Secret"):
        del meta["generation"]
    return meta


class ClusterView:
    """Every API object of one state snapshot, grouped by plural resource name."""

    def __init__(self, state, created):
        self.state = state if isinstance(state, dict) else {}
        self.created = created
        self.objects = {}
        self.uids = {}
        self._manifests = []
        self._index_manifests()
        self._collect_owner_uids()
        node = self.state.get("node") or {}
        self.node_name = node.get("name") or "sim-node-1"
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
                "controller": True, "blockOwnerDeletion": True}

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
        self._build_node()
        for items in self.objects.values():
            items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))

    def _manifest_meta(self, obj):
        meta = obj["metadata"]
        meta["uid"] = self.uid_of(obj["kind"], meta.get("namespace"), meta["name"])
        meta["resourceVersion"] = ""
        meta["creationTimestamp"] = _time(meta.get("creationTimestamp"), self.created)
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

    def _build_node(self):
        node = self.state.get("node") or {}
        ip = node.get("internalIP", "")
        cidr = node.get("podCIDR", "")
        uname = os.uname()
        arch = _arch()
        labels = {"kubernetes.io/hostname": self.node_name, "kubernetes.io/os": "linux",
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
               "metadata": _meta("Node", self.node_name, None,
                                 self.uid_of("Node", None, self.node_name), self.created, labels,
                                 {"node.alpha.kubernetes.io/ttl": "0"}),
               "spec": {}, "status": {
                   "capacity": capacity, "allocatable": dict(capacity), "conditions": conds,
                   "addresses": [{"type": "InternalIP", "address": ip},
                                 {"type": "Hostname", "address": self.node_name}],
                   "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                   "nodeInfo": {"machineID": "", "systemUUID": "", "bootID": "",
                                "kernelVersion": uname.release, "osImage": "simcluster",
                                "containerRuntimeVersion": "containerd://1.7.24",
                                "kubeletVersion": KUBELET_VERSION,
                                "kubeProxyVersion": KUBELET_VERSION,
                                "operatingSystem": "linux", "architecture": arch}}}
        if cidr:
            obj["spec"] = {"podCIDR": cidr, "podCIDRs": [cidr]}
        self._add("nodes", obj)

    # -- pods ----------------------------------------------------------------
    def _build_pods(self):
        seen = set()
        for entry in self.state.get("pods") or []:
            if isinstance(entry, dict) and entry.get("name"):
                pod = self._pod_from_state(entry)
                seen.add((pod["metadata"]["namespace"], pod["metadata"]["name"]))
                self._add("pods", pod)
        # Pod manifests simcluster has not started (yet) show as Pending.
        for obj in self.manifests("Pod"):
            key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
            if key not in seen:
                entry = {"name": key[1], "namespace": key[0], "labels":
                         obj["metadata"].get("labels"), "spec": obj.get("spec") or {},
                         "phase": "Pending", "ready": False}
                self._add("pods", self._pod_from_state(entry))

    def _pod_from_state(self, e):
        ns = e.get("namespace") or "default"
        name = e["name"]
        phase = e.get("phase") or "Running"
        ready = bool(e.get("ready", phase == "Running"))
        start = _time(e.get("startTime"), self.created)
        owner = self._owner_ref(e.get("owner"), ns)
        meta = _meta("Pod", name, ns, self.uid_of("Pod", ns, name, e.get("uid")),
                     _time(e.get("creationTimestamp"), start), e.get("labels"),
                     e.get("annotations"), owner)
        if owner:
            meta = dict([("name", name), ("generateName", name.rsplit("-", 1)[0] + "-")] +
                        [(k, v) for k, v in meta.items() if k != "name"])
        spec = copy.deepcopy(e.get("spec") or {})
        spec.setdefault("containers", [])
        for c in spec["containers"]:
            c.setdefault("imagePullPolicy", "IfNotPresent")
            c.setdefault("resources", {})
            c.setdefault("terminationMessagePath", "/dev/termination-log")
            c.setdefault("terminationMessagePolicy", "File")
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("serviceAccountName", "default")
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
        if phase != "Pending" or e.get("nodeName"):
            spec["nodeName"] = e.get("nodeName") or self.node_name
        spec.setdefault("securityContext", {})
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        spec.setdefault("priority", 0)
        spec.setdefault("tolerations", [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
             "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
             "effect": "NoExecute", "tolerationSeconds": 300}])
        status = self._pod_status(e, spec, phase, ready, start)
        return {"kind": "Pod", "apiVersion": "v1", "metadata": meta, "spec": spec,
                "status": status}

    def _container_status(self, c, st, phase, pod_ready, start):
        image = st.get("image") or c.get("image", "")
        ready = bool(st.get("ready", pod_ready))
        out = {"name": c.get("name", st.get("name", "")), "image": image,
               "imageID": st.get("imageID") or "%s@sha256:%s" % (
                   image.split(":")[0], hashlib.sha256(image.encode()).hexdigest()),
               "ready": ready, "restartCount": int(st.get("restartCount", 0)),
               "started": phase == "Running"}
        if st.get("containerID"):
            out["containerID"] = st["containerID"]
        if phase == "Running":
            out["state"] = {"running": {"startedAt": _time(st.get("startedAt"), start)}}
        elif phase in ("Succeeded", "Failed"):
            out["state"] = {"terminated": {"exitCode": 0 if phase == "Succeeded" else 1,
                                           "reason": "Completed" if phase == "Succeeded"
                                           else "Error", "startedAt": start,
                                           "finishedAt": start, "containerID":
                                           st.get("containerID", "")}}
        else:
            out["state"] = {"waiting": {"reason": st.get("reason", "ContainerCreating")}}
        out["lastState"] = {}
        return out

    def _pod_status(self, e, spec, phase, ready, start):
        by_name = {c.get("name"): c for c in e.get("containers") or [] if isinstance(c, dict)}
        statuses = [self._container_status(c, by_name.get(c.get("name"), {}), phase, ready, start)
                    for c in spec["containers"]]
        containers_ready = phase == "Running" and all(s["ready"] for s in statuses)
        ready = ready and containers_ready
        scheduled = "nodeName" in spec

        def cond(ctype, ok):
            return {"type": ctype, "status": "True" if ok else "False", "lastProbeTime": None,
                    "lastTransitionTime": start}
        status = {"phase": phase, "conditions": [
            cond("PodReadyToStartContainers", phase == "Running"),
            cond("Initialized", scheduled), cond("Ready", ready),
            cond("ContainersReady", containers_ready), cond("PodScheduled", scheduled)]}
        if scheduled:
            host_ip = e.get("hostIP") or (self.state.get("node") or {}).get("internalIP", "")
            status["hostIP"] = host_ip
            status["hostIPs"] = [{"ip": host_ip}]
        if e.get("podIP"):
            status["podIP"] = e["podIP"]
            status["podIPs"] = [{"ip": ip} for ip in e.get("podIPs") or [e["podIP"]]]
        if scheduled:
            status["startTime"] = start
        if spec.get("initContainers"):
            status["initContainerStatuses"] = [
                self._container_status(c, by_name.get(c.get("name"), {}), "Succeeded", True,
                                       start) for c in spec["initContainers"]]
        if scheduled:
            status["containerStatuses"] = statuses
        else:
            status["conditions"] = [cond("PodScheduled", False)]
        status["qosClass"] = _qos_class(spec)
        return status

    def pods_owned_by(self, kind, ns, name):
        uid = self.uid_of(kind, ns, name)
        return [p for p in self.objects.get("pods", []) if p["metadata"].get("namespace") == ns
                and any(r.get("uid") == uid for r in p["metadata"].get("ownerReferences", []))]

    # -- workloads -----------------------------------------------------------
    def _build_replicasets(self):
        have = set()
        for e in self.state.get("replicasets") or []:
            if not isinstance(e, dict) or not e.get("name"):
                continue
            ns = e.get("namespace") or "default"
            have.add((ns, (e.get("owner") or {}).get("name")))
            self._add("replicasets", self._replicaset(ns, e["name"], e.get("uid"), e.get("labels"),
                                                      e.get("owner"), e.get("replicas", 1),
                                                      e.get("template") or {},
                                                      e.get("selector")))
        # A Deployment whose ReplicaSet simcluster did not report gets one
        # named after its pods' owner, or after its template hash.
        for dep in self.manifests("Deployment"):
            ns, name = dep["metadata"]["namespace"], dep["metadata"]["name"]
            if (ns, name) in have:
                continue
            spec = dep.get("spec") or {}
            template = copy.deepcopy(spec.get("template") or {})
            rs_name = None
            for p in self.state.get("pods") or []:
                if not isinstance(p, dict):
                    continue
                owner = p.get("owner") or {}
                if (p.get("namespace") or "default") == ns and owner.get("kind") == "ReplicaSet" \
                        and owner.get("name", "").startswith(name + "-"):
                    rs_name = owner["name"]
                    break
            phash = rs_name[len(name) + 1:] if rs_name else template_hash(template)
            rs_name = rs_name or "%s-%s" % (name, phash)
            labels = dict((template.get("metadata") or {}).get("labels") or {})
            labels["pod-template-hash"] = phash
            template.setdefault("metadata", {})["labels"] = labels
            selector = copy.deepcopy(spec.get("selector") or {})
            selector.setdefault("matchLabels", {})["pod-template-hash"] = phash
            self._add("replicasets", self._replicaset(
                ns, rs_name, None, labels, {"kind": "Deployment", "name": name},
                spec.get("replicas", 1), template, selector))

    def _replicaset(self, ns, name, uid, labels, owner, replicas, template, selector):
        owner_ref = self._owner_ref(owner, ns)
        annotations = {"deployment.kubernetes.io/desired-replicas": str(replicas),
                       "deployment.kubernetes.io/max-replicas": str(replicas + 1),
                       "deployment.kubernetes.io/revision": "1"}
        rs = {"kind": "ReplicaSet", "apiVersion": "apps/v1",
              "metadata": _meta("ReplicaSet", name, ns, self.uid_of("ReplicaSet", ns, name, uid),
                                self.created, labels, annotations, owner_ref),
              "spec": {"replicas": replicas, "selector": selector or
                       {"matchLabels": dict(labels or {})}, "template": template}}
        pods = self.pods_owned_by("ReplicaSet", ns, name)
        nready = sum(1 for p in pods if _pod_ready(p))
        rs["status"] = _omit_zero({"replicas": len(pods), "fullyLabeledReplicas": len(pods),
                                   "readyReplicas": nready, "availableReplicas": nready,
                                   "observedGeneration": 1}, "fullyLabeledReplicas",
                                  "readyReplicas", "availableReplicas")
        return rs

    def _build_workloads(self):
        for dep in self.manifests("Deployment"):
            meta = self._manifest_meta(dep)
            ns, name = meta["namespace"], meta["name"]
            spec = dep.setdefault("spec", {})
            spec.setdefault("replicas", 1)
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("progressDeadlineSeconds", 600)
            spec.setdefault("strategy", {"type": "RollingUpdate", "rollingUpdate":
                                         {"maxSurge": "25%", "maxUnavailable": "25%"}})
            meta.setdefault("annotations", {})["deployment.kubernetes.io/revision"] = "1"
            pods = []
            for rs in self.objects.get("replicasets", []):
                if any(r.get("uid") == meta["uid"] for r in
                       rs["metadata"].get("ownerReferences", [])):
                    pods += self.pods_owned_by("ReplicaSet", ns, rs["metadata"]["name"])
            nready = sum(1 for p in pods if _pod_ready(p))
            want = spec["replicas"]
            available = nready >= want
            status = _omit_zero({"observedGeneration": 1, "replicas": len(pods),
                                 "updatedReplicas": len(pods), "readyReplicas": nready,
                                 "availableReplicas": nready,
                                 "unavailableReplicas": max(0, want - nready)},
                                "replicas", "updatedReplicas", "readyReplicas",
                                "availableReplicas", "unavailableReplicas")
            status["conditions"] = [
                {"type": "Available", "status": "True" if available else "False",
                 "lastUpdateTime": self.created, "lastTransitionTime": self.created,
                 "reason": "MinimumReplicasAvailable" if available else
                 "MinimumReplicasUnavailable", "message": "Deployment has minimum availability."
                 if available else "Deployment does not have minimum availability."},
                {"type": "Progressing", "status": "True", "lastUpdateTime": self.created,
                 "lastTransitionTime": self.created, "reason": "NewReplicaSetAvailable",
                 "message": 'ReplicaSet "%s" has successfully progressed.' % name}]
            dep["status"] = status
            self._add("deployments", dep)
        for sts in self.manifests("StatefulSet"):
            meta = self._manifest_meta(sts)
            spec = sts.setdefault("spec", {})
            spec.setdefault("replicas", 1)
            spec.setdefault("podManagementPolicy", "OrderedReady")
            spec.setdefault("updateStrategy", {"type": "RollingUpdate",
                                               "rollingUpdate": {"partition": 0}})
            pods = self.pods_owned_by("StatefulSet", meta["namespace"], meta["name"])
            nready = sum(1 for p in pods if _pod_ready(p))
            rev = "%s-%s" % (meta["name"], template_hash(spec.get("template") or {}))
            sts["status"] = _omit_zero({"observedGeneration": 1, "replicas": len(pods),
                                        "readyReplicas": nready, "currentReplicas": len(pods),
                                        "updatedReplicas": len(pods)},
                                       "readyReplicas", "currentReplicas", "updatedReplicas")
            sts["status"].update({"availableReplicas": nready, "currentRevision": rev,
                                  "updateRevision": rev, "collisionCount": 0})
            self._add("statefulsets", sts)
        for ds in self.manifests("DaemonSet"):
            meta = self._manifest_meta(ds)
            spec = ds.setdefault("spec", {})
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate":
                                               {"maxSurge": 0, "maxUnavailable": 1}})
            pods = self.pods_owned_by("DaemonSet", meta["namespace"], meta["name"])
            nready = sum(1 for p in pods if _pod_ready(p))
            ds["status"] = _omit_zero({"currentNumberScheduled": len(pods),
                                       "numberMisscheduled": 0, "desiredNumberScheduled": 1,
                                       "numberReady": nready, "observedGeneration": 1,
                                       "updatedNumberScheduled": len(pods),
                                       "numberAvailable": nready,
                                       "numberUnavailable": max(0, 1 - nready)},
                                      "updatedNumberScheduled", "numberAvailable",
                                      "numberUnavailable")
            for key in ("currentNumberScheduled", "numberMisscheduled", "numberReady"):
                ds["status"].setdefault(key, 0)
            self._add("daemonsets", ds)

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
               "metadata": _meta("Endpoints", meta["name"], ns,
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
            (ready if _pod_ready(p) else unready).append(addr)
        ports = []
        for port in svc["spec"].get("ports") or []:
            target = port.get("targetPort")
            if isinstance(target, str) and pods:
                target = _named_port(pods[0], target) or port.get("port")
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


def _pod_ready(pod):
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in pod["status"].get("conditions", []))


def _named_port(pod, name):
    for c in pod["spec"].get("containers", []):
        for p in c.get("ports") or []:
            if p.get("name") == name:
                return p.get("containerPort")
    return None


def _qos_class(spec):
    res = [c.get("resources") or {} for c in spec.get("containers", [])]
    if not any(r.get("requests") or r.get("limits") for r in res):
        return "BestEffort"
    for r in res:
        lim, req = r.get("limits") or {}, r.get("requests") or lim
        if not (lim.get("cpu") and lim.get("memory") and req == lim):
            return "Burstable"
    return "Guaranteed"


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
            self.view = ClusterView(state, _time(created, self.created))
            self.stamp = stamp
            self._assign_rvs()
            self.changed.notify_all()
            return self.view

    def resource_version(self):
        return str(self.rv)
