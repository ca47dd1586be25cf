"""The resource types the simcluster API endpoint serves, and the discovery documents built from them."""

import collections

Resource = collections.namedtuple(
    "Resource", "name singular kind group version namespaced short categories fields served")

_POD_FIELDS = ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
               "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
               "status.podIP", "status.nominatedNodeName")
_ALL = ("all",)

# served=False: listed in discovery (a real cluster has it) but every access is
# refused with 403, like an RBAC role that does not grant it.
RESOURCES = [
    Resource("namespaces", "namespace", "Namespace", "", "v1", False, ("ns",), (),
             ("status.phase",), True),
    Resource("nodes", "node", "Node", "", "v1", False, ("no",), (),
             ("spec.unschedulable",), True),
    Resource("pods", "pod", "Pod", "", "v1", True, ("po",), _ALL, _POD_FIELDS, True),
    Resource("services", "service", "Service", "", "v1", True, ("svc",), _ALL,
             ("spec.clusterIP", "spec.type"), True),
    Resource("endpoints", "endpoints", "Endpoints", "", "v1", True, ("ep",), (), (), True),
    Resource("configmaps", "configmap", "ConfigMap", "", "v1", True, ("cm",), (), (), True),
    Resource("serviceaccounts", "serviceaccount", "ServiceAccount", "", "v1", True, ("sa",),
             (), (), True),
    Resource("secrets", "secret", "Secret", "", "v1", True, (), (), ("type",), False),
    Resource("deployments", "deployment", "Deployment", "apps", "v1", True, ("deploy",), _ALL,
             (), True),
    Resource("replicasets", "replicaset", "ReplicaSet", "apps", "v1", True, ("rs",), _ALL,
             ("status.replicas",), True),
    Resource("statefulsets", "statefulset", "StatefulSet", "apps", "v1", True, ("sts",), _ALL,
             (), True),
    Resource("daemonsets", "daemonset", "DaemonSet", "apps", "v1", True, ("ds",), _ALL,
             (), True),
]

# Subresources named in discovery; handlers live in the HTTP layer.
SUBRESOURCES = {
    "pods": [("portforward", "PodPortForwardOptions", ["create", "get"])],
}

VERBS = ["get", "list", "watch"]
GROUPS = ["apps"]


def api_version(res):
    return res.version if not res.group else "%s/%s" % (res.group, res.version)


def find(group, version, name):
    """The Resource for a URL's group/version/plural name, or None."""
    for res in RESOURCES:
        if res.group == group and res.version == version and res.name == name:
            return res
    return None


def by_kind(kind):
    for res in RESOURCES:
        if res.kind == kind:
            return res
    return None


def allowed_fields(res):
    base = ["metadata.name"]
    if res.namespaced:
        base.append("metadata.namespace")
    return set(base) | set(res.fields)


def api_versions(server_address):
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                            "serverAddress": server_address}]}


def _group_doc(group):
    gv = {"groupVersion": "%s/v1" % group, "version": "v1"}
    return {"name": group, "versions": [gv], "preferredVersion": gv}


def api_group_list():
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group_doc(g) for g in GROUPS]}


def api_group(group):
    if group not in GROUPS:
        return None
    doc = _group_doc(group)
    doc.update({"kind": "APIGroup", "apiVersion": "v1"})
    return doc


def api_resource_list(group, version):
    """The APIResourceList for one group version, or None if it is not served."""
    if version != "v1" or (group and group not in GROUPS):
        return None
    out = []
    for res in RESOURCES:
        if res.group != group:
            continue
        entry = {"name": res.name, "singularName": res.singular, "namespaced": res.namespaced,
                 "kind": res.kind, "verbs": list(VERBS)}
        if res.short:
            entry["shortNames"] = list(res.short)
        if res.categories:
            entry["categories"] = list(res.categories)
        out.append(entry)
        for sub, kind, verbs in SUBRESOURCES.get(res.name, []):
            out.append({"name": "%s/%s" % (res.name, sub), "singularName": "",
                        "namespaced": res.namespaced, "kind": kind, "verbs": verbs})
    gv = "%s/%s" % (group, version) if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}
