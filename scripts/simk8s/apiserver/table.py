"""Renders API objects as meta.k8s.io/v1 Table responses, with the columns kubectl shows."""

import time

from simk8s.apiserver.util import parse_time


def human_age(created, now=None):
    """kubectl's short duration: 45s, 3m12s, 95m, 5h3m, 30h, 6d2h, 40d, 2y30d."""
    start = parse_time(created)
    if start is None:
        return "<unknown>"
    sec = max(0, int((now or time.time()) - start))
    minutes, hours, days = sec // 60, sec // 3600, sec // 86400
    if sec < 120:
        return "%ds" % sec
    if minutes < 10:
        return "%dm%ds" % (minutes, sec % 60) if sec % 60 else "%dm" % minutes
    if minutes < 180:
        return "%dm" % minutes
    if hours < 8:
        return "%dh%dm" % (hours, minutes % 60) if minutes % 60 else "%dh" % hours
    if hours < 48:
        return "%dh" % hours
    if hours < 24 * 8:
        return "%dd%dh" % (days, hours % 24) if hours % 24 else "%dd" % days
    if days < 365 * 2:
        return "%dd" % days
    return "%dy%dd" % (days // 365, days % 365)


def _selector_text(sel):
    if not sel:
        return "<none>"
    labels = sel.get("matchLabels", sel) if isinstance(sel, dict) else {}
    return ",".join("%s=%s" % kv for kv in sorted(labels.items())
                    if isinstance(kv[1], str)) or "<none>"


def _containers(obj):
    spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    cs = spec.get("containers") or []
    return ",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs)


def _pod_row(p):
    st = p.get("status") or {}
    cs = st.get("containerStatuses") or []
    ready = sum(1 for c in cs if c.get("ready"))
    reason = st.get("phase", "Unknown")
    for c in cs:
        waiting = (c.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            reason = waiting["reason"]
    restarts = sum(c.get("restartCount", 0) for c in cs)
    total = len((p.get("spec") or {}).get("containers") or cs)
    return ["%d/%d" % (ready, total), reason, restarts,
            human_age(p["metadata"].get("creationTimestamp")),
            st.get("podIP", "<none>"), (p.get("spec") or {}).get("nodeName", "<none>"),
            "<none>", "<none>"]


def _svc_row(s):
    spec = s.get("spec") or {}
    ports = []
    for p in spec.get("ports") or []:
        text = "%s/%s" % (p.get("port"), p.get("protocol", "TCP"))
        if p.get("nodePort"):
            text = "%s:%s/%s" % (p.get("port"), p["nodePort"], p.get("protocol", "TCP"))
        ports.append(text)
    ext = ",".join(spec.get("externalIPs") or []) or "<none>"
    return [spec.get("type", "ClusterIP"), spec.get("clusterIP", "<none>"), ext,
            ",".join(ports) or "<none>", human_age(s["metadata"].get("creationTimestamp")),
            _selector_text(spec.get("selector"))]


def _deploy_row(d):
    st, spec = d.get("status") or {}, d.get("spec") or {}
    names, images = _containers(d)
    return ["%d/%d" % (st.get("readyReplicas", 0), spec.get("replicas", 1)),
            st.get("updatedReplicas", 0), st.get("availableReplicas", 0),
            human_age(d["metadata"].get("creationTimestamp")), names, images,
            _selector_text(spec.get("selector"))]


def _rs_row(r):
    st, spec = r.get("status") or {}, r.get("spec") or {}
    names, images = _containers(r)
    return [spec.get("replicas", 1), st.get("replicas", 0), st.get("readyReplicas", 0),
            human_age(r["metadata"].get("creationTimestamp")), names, images,
            _selector_text(spec.get("selector"))]


def _sts_row(s):
    st, spec = s.get("status") or {}, s.get("spec") or {}
    names, images = _containers(s)
    return ["%d/%d" % (st.get("readyReplicas", 0), spec.get("replicas", 1)),
            human_age(s["metadata"].get("creationTimestamp")), names, images]


def _ds_row(d):
    st, spec = d.get("status") or {}, d.get("spec") or {}
    names, images = _containers(d)
    node_sel = ((spec.get("template") or {}).get("spec") or {}).get("nodeSelector")
    return [st.get("desiredNumberScheduled", 0), st.get("currentNumberScheduled", 0),
            st.get("numberReady", 0), st.get("updatedNumberScheduled", 0),
            st.get("numberAvailable", 0), _selector_text(node_sel),
            human_age(d["metadata"].get("creationTimestamp")), names, images,
            _selector_text(spec.get("selector"))]


def _node_row(n):
    st = n.get("status") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                for c in st.get("conditions") or [])
    addrs = {a.get("type"): a.get("address") for a in st.get("addresses") or []}
    info = st.get("nodeInfo") or {}
    return ["Ready" if ready else "NotReady", "<none>",
            human_age(n["metadata"].get("creationTimestamp")), info.get("kubeletVersion", ""),
            addrs.get("InternalIP", "<none>"), addrs.get("ExternalIP", "<none>"),
            info.get("osImage", ""), info.get("kernelVersion", ""),
            info.get("containerRuntimeVersion", "")]


def _ep_row(e):
    addrs = []
    for sub in e.get("subsets") or []:
        for a in sub.get("addresses") or []:
            for p in sub.get("ports") or [{}]:
                addrs.append("%s:%s" % (a["ip"], p.get("port")) if p else a["ip"])
    text = ",".join(addrs[:3]) + (" + %d more..." % (len(addrs) - 3) if len(addrs) > 3 else "")
    return [text or "<none>", human_age(e["metadata"].get("creationTimestamp"))]


def _age_only(o):
    return [human_age(o["metadata"].get("creationTimestamp"))]


def _col(name, ctype="string", priority=0, fmt="", desc=""):
    return {"name": name, "type": ctype, "format": fmt, "description": desc or name,
            "priority": priority}


_NAME = _col("Name", fmt="name", desc="Name must be unique within a namespace.")
_AGE = _col("Age", desc="CreationTimestamp is a timestamp representing the server time "
            "when this object was created.")
_WIDE = [_col("Containers", priority=1), _col("Images", priority=1),
         _col("Selector", priority=1)]

COLUMNS = {
    "pods": ([_NAME, _col("Ready"), _col("Status"), _col("Restarts", "string"), _AGE,
              _col("IP", priority=1), _col("Node", priority=1),
              _col("Nominated Node", priority=1), _col("Readiness Gates", priority=1)],
             _pod_row),
    "services": ([_NAME, _col("Type"), _col("Cluster-IP"), _col("External-IP"),
                  _col("Port(s)"), _AGE, _col("Selector", priority=1)], _svc_row),
    "deployments": ([_NAME, _col("Ready"), _col("Up-to-date", "integer"),
                     _col("Available", "integer"), _AGE] + _WIDE, _deploy_row),
    "replicasets": ([_NAME, _col("Desired", "integer"), _col("Current", "integer"),
                     _col("Ready", "integer"), _AGE] + _WIDE, _rs_row),
    "statefulsets": ([_NAME, _col("Ready"), _AGE, _col("Containers", priority=1),
                      _col("Images", priority=1)], _sts_row),
    "daemonsets": ([_NAME, _col("Desired", "integer"), _col("Current", "integer"),
                    _col("Ready", "integer"), _col("Up-to-date", "integer"),
                    _col("Available", "integer"), _col("Node Selector"), _AGE] + _WIDE,
                   _ds_row),
    "nodes": ([_NAME, _col("Status"), _col("Roles"), _AGE, _col("Version"),
               _col("Internal-IP", priority=1), _col("External-IP", priority=1),
               _col("OS-Image", priority=1), _col("Kernel-Version", priority=1),
               _col("Container-Runtime", priority=1)], _node_row),
    "namespaces": ([_NAME, _col("Status"), _AGE],
                   lambda n: [(n.get("status") or {}).get("phase", "Active")] + _age_only(n)),
    "configmaps": ([_NAME, _col("Data", "integer"), _AGE],
                   lambda c: [len(c.get("data") or {}) + len(c.get("binaryData") or {})] +
                   _age_only(c)),
    "endpoints": ([_NAME, _col("Endpoints"), _AGE], _ep_row),
    "serviceaccounts": ([_NAME, _col("Secrets", "integer"), _AGE],
                        lambda s: [len(s.get("secrets") or [])] + _age_only(s)),
}


def partial_metadata(obj):
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": obj["metadata"]}


def to_table(resource, objects, resource_version, include="Metadata"):
    """A Table of `objects` (full objects with kind/apiVersion) for one resource type."""
    columns, row_fn = COLUMNS.get(resource, ([_NAME, _AGE], _age_only))
    rows = []
    for obj in objects:
        row = {"cells": [obj["metadata"]["name"]] + row_fn(obj)}
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            row["object"] = partial_metadata(obj)
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": columns, "rows": rows}
