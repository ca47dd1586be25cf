"""Builds ReplicaSets, Deployments, StatefulSets and DaemonSets with statuses counted from their pods."""

import copy

from simk8s.apiserver.util import make_meta, omit_zero, pod_ready, template_hash


class WorkloadsMixin:
    """The workload part of ClusterView."""

    def _build_replicasets(self):
        have = set()
        for rs in self.manifests("ReplicaSet"):
            meta = self._manifest_meta(rs)
            ns = meta["namespace"]
            refs = [self._owner_ref(r, ns) for r in meta.get("ownerReferences") or []]
            meta["ownerReferences"] = [r for r in refs if r]
            have.update((ns, r["name"]) for r in meta["ownerReferences"])
            if not meta["ownerReferences"]:
                del meta["ownerReferences"]
            rs.setdefault("spec", {}).setdefault("replicas", 1)
            rs["status"] = self._rs_status(ns, meta["name"])
            self._add("replicasets", rs)
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
                owner = _first_owner(p)
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
              "metadata": make_meta("ReplicaSet", name, ns, self.uid_of("ReplicaSet", ns, name, uid),
                                self.created, labels, annotations, owner_ref),
              "spec": {"replicas": replicas, "selector": selector or
                       {"matchLabels": dict(labels or {})}, "template": template}}
        rs["status"] = self._rs_status(ns, name)
        return rs

    def _rs_status(self, ns, name):
        pods = self.pods_owned_by("ReplicaSet", ns, name)
        nready = sum(1 for p in pods if pod_ready(p))
        return omit_zero({"replicas": len(pods), "fullyLabeledReplicas": len(pods),
                          "readyReplicas": nready, "availableReplicas": nready,
                          "observedGeneration": 1}, "fullyLabeledReplicas", "readyReplicas",
                         "availableReplicas")

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
            pods, rs_name = [], name
            for rs in self.objects.get("replicasets", []):
                if rs["metadata"].get("namespace") == ns and any(
                        r.get("uid") == meta["uid"]
                        for r in rs["metadata"].get("ownerReferences", [])):
                    rs_name = rs["metadata"]["name"]
                    pods += self.pods_owned_by("ReplicaSet", ns, rs_name)
            nready = sum(1 for p in pods if pod_ready(p))
            want = spec["replicas"]
            available = nready >= want
            status = omit_zero({"observedGeneration": 1, "replicas": len(pods),
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
                 "message": 'ReplicaSet "%s" has successfully progressed.' % rs_name}]
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
            nready = sum(1 for p in pods if pod_ready(p))
            rev = "%s-%s" % (meta["name"], template_hash(spec.get("template") or {}))
            sts["status"] = omit_zero({"observedGeneration": 1, "replicas": len(pods),
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
            nready = sum(1 for p in pods if pod_ready(p))
            ds["status"] = omit_zero({"currentNumberScheduled": len(pods),
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



def _first_owner(pod_entry):
    """The owner a state pod names, in either shape simcluster may write."""
    if isinstance(pod_entry.get("owner"), dict):
        return pod_entry["owner"]
    obj = pod_entry.get("object") if isinstance(pod_entry.get("object"), dict) else {}
    refs = pod_entry.get("ownerReferences") or (obj.get("metadata") or {}).get("ownerReferences")
    if isinstance(refs, list) and refs and isinstance(refs[0], dict):
        return refs[0]
    return {}
