"""Builds Pod objects (spec defaults, status, conditions, container statuses) from simcluster state."""

import copy
import hashlib

from simk8s.apiserver.util import as_time, make_meta, qos_class


class PodsMixin:
    """The pod part of ClusterView."""

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
        # simcluster may also hand the whole Pod object it made ("object"):
        # its metadata and spec are used, its status is recomputed here.
        obj = e.get("object") if isinstance(e.get("object"), dict) else {}
        ometa = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        ns = e.get("namespace") or ometa.get("namespace") or "default"
        name = e["name"]
        phase = e.get("phase") or "Running"
        ready = bool(e.get("ready", phase == "Running"))
        start = as_time(e.get("startTime"), as_time(ometa.get("creationTimestamp"), self.created))
        refs = e.get("ownerReferences") or ometa.get("ownerReferences")
        if isinstance(refs, list) and refs:
            owners = [self._owner_ref(r, ns) for r in refs if isinstance(r, dict)]
        else:
            owners = [self._owner_ref(e.get("owner"), ns)]
        owners = [o for o in owners if o]
        meta = make_meta("Pod", name, ns, self.uid_of("Pod", ns, name, e.get("uid") or
                                                      ometa.get("uid")),
                         as_time(e.get("creationTimestamp") or ometa.get("creationTimestamp"),
                                 start), e.get("labels") or ometa.get("labels"),
                         e.get("annotations") or ometa.get("annotations"), None)
        if owners:
            meta["ownerReferences"] = owners
            gen = ometa.get("generateName") or (name.rsplit("-", 1)[0] + "-"
                                                if owners[0]["kind"] != "StatefulSet" else None)
            if gen:
                meta = dict([("name", name), ("generateName", gen)] +
                            [(k, v) for k, v in meta.items() if k != "name"])
        e = dict(e, spec=e.get("spec") or obj.get("spec") or {},
                 nodeName=e.get("nodeName") or e.get("node") or
                 (obj.get("spec") or {}).get("nodeName"))
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
               "ready": ready, "restartCount": int(st.get("restartCount", 0))}
        if st.get("containerID"):
            out["containerID"] = st["containerID"]
        cstate = st.get("state") if isinstance(st.get("state"), str) else None
        if cstate in ("exited", "terminated"):
            phase = "Succeeded" if int(st.get("exitCode", 1) or 0) == 0 else "Failed"
            out["ready"] = False
        elif cstate in ("waiting", "created"):
            phase = "Pending"
        if phase == "Running":
            out["state"] = {"running": {"startedAt": as_time(st.get("startedAt"), start)}}
        elif phase in ("Succeeded", "Failed"):
            out["state"] = {"terminated": {"exitCode": int(st.get("exitCode") or
                                                           (0 if phase == "Succeeded" else 1)),
                                           "reason": "Completed" if phase == "Succeeded"
                                           else "Error", "startedAt": start,
                                           "finishedAt": start, "containerID":
                                           st.get("containerID", "")}}
        else:
            out["state"] = {"waiting": {"reason": st.get("reason", "ContainerCreating")}}
        out["lastState"] = {}
        out["started"] = phase == "Running"
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
            host_ip = e.get("hostIP") or self.node_ip
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
        status["qosClass"] = qos_class(spec)
        return status

    def pods_owned_by(self, kind, ns, name):
        uid = self.uid_of(kind, ns, name)
        return [p for p in self.objects.get("pods", []) if p["metadata"].get("namespace") == ns
                and any(r.get("uid") == uid for r in p["metadata"].get("ownerReferences", []))]

