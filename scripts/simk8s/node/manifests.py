"""Turns Kubernetes manifests into the objects a control plane would create: ReplicaSets, Pods (names, UIDs, IPs) and Service ClusterIPs."""
import copy
import hashlib
import ipaddress
import json
import secrets
import uuid

from simk8s import config, statefile

try:
    import yaml
except ImportError:  # python3-yaml is in scripts/deps.sh; fail with a clear message
    yaml = None

SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery rand.SafeEncodeString
NAMESPACED = {"Pod", "Service", "ConfigMap", "Secret", "Deployment", "ReplicaSet", "StatefulSet",
              "DaemonSet", "ServiceAccount", "Endpoints", "Job"}
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Pod")
BASE_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class ManifestError(Exception):
    pass


def load_files(paths):
    if yaml is None:
        raise ManifestError("python3-yaml is missing (run: make deps)")
    docs = []
    for p in paths:
        with open(p) as f:
            for doc in yaml.safe_load_all(f):
                if not doc:
                    continue
                if doc.get("kind") == "List" or doc.get("kind", "").endswith("List"):
                    docs.extend(doc.get("items") or [])
                else:
                    docs.append(doc)
    for d in docs:
        if not isinstance(d, dict) or "kind" not in d or "metadata" not in d or \
                "name" not in d["metadata"]:
            raise ManifestError("object without kind or metadata.name: %r" % (d,)[:200])
    return docs


def fnv32a(data):
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(s):
    return "".join(SAFE_ALPHABET[ord(c) % len(SAFE_ALPHABET)] for c in s)


def template_hash(template):
    return safe_encode(str(fnv32a(json.dumps(template, sort_keys=True).encode())))


def random_suffix(n=5):
    return "".join(secrets.choice(SAFE_ALPHABET) for _ in range(n))


def api_version_of(kind):
    return "apps/v1" if kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet") else "v1"


def owner_ref(obj):
    return {"apiVersion": obj.get("apiVersion", api_version_of(obj["kind"])), "kind": obj["kind"],
            "name": obj["metadata"]["name"], "uid": obj["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": True}


def fill_metadata(obj, ts, rv):
    md = obj.setdefault("metadata", {})
    if obj["kind"] in NAMESPACED:
        md.setdefault("namespace", "default")
    md.setdefault("uid", str(uuid.uuid4()))
    md.setdefault("creationTimestamp", ts)
    md.setdefault("resourceVersion", str(rv))
    md.setdefault("generation", 1)
    obj.setdefault("apiVersion", api_version_of(obj["kind"]))
    return obj


class ServiceIPs:
    """Deterministic ClusterIPs (hash of namespace/name) so runs and docs agree."""

    def __init__(self):
        self.net = ipaddress.ip_network(config.SERVICE_CIDR)
        self.used = {config.KUBERNETES_SVC_IP, config.DNS_IP}

    def take(self, ip):
        self.used.add(ip)
        return ip

    def alloc(self, ns, name):
        size = self.net.num_addresses
        h = int.from_bytes(hashlib.sha256(("%s/%s" % (ns, name)).encode()).digest()[:4], "big")
        for i in range(size):
            off = 16 + (h + i) % (size - 18)
            ip = str(self.net.network_address + off)
            if ip not in self.used:
                self.used.add(ip)
                return ip
        raise ManifestError("service CIDR exhausted")


def _container_port(spec, name_or_num):
    if isinstance(name_or_num, int) or str(name_or_num).isdigit():
        return int(name_or_num)
    for c in spec.get("containers", []):
        for p in c.get("ports", []) or []:
            if p.get("name") == name_or_num:
                return int(p["containerPort"])
    return None


def make_pod(name, ns, template, owner, extra_labels, ip, ts, rv, generate_name=None, hostname=None,
             node=None):
    tmd = template.get("metadata") or {}
    spec = copy.deepcopy(template.get("spec") or {})
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("serviceAccountName", spec.get("serviceAccount", "default"))
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    node = node or config.node_facts(0)
    spec["nodeName"] = node["name"]
    if hostname:
        spec.setdefault("hostname", hostname)
    for c in spec.get("containers", []):
        c.setdefault("imagePullPolicy", "IfNotPresent")
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        c.setdefault("resources", {})
    labels = dict(tmd.get("labels") or {})
    labels.update(extra_labels)
    md = {"name": name, "namespace": ns, "uid": str(uuid.uuid4()), "labels": labels,
          "creationTimestamp": ts, "resourceVersion": str(rv)}
    if tmd.get("annotations"):
        md["annotations"] = dict(tmd["annotations"])
    if generate_name:
        md["generateName"] = generate_name
    if owner:
        md["ownerReferences"] = [owner_ref(owner)]
    host_net = bool(spec.get("hostNetwork"))
    pod_ip = node["internalIP"] if host_net else ip
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec,
           "status": {"phase": "Pending", "qosClass": qos_class(spec)}}
    netns = node["netns"] if host_net else "%s%s-%s" % (config.POD_NETNS_PREFIX, ns, name)
    return {"name": name, "namespace": ns, "uid": md["uid"], "podIP": pod_ip,
            "hostIP": node["internalIP"], "node": node["name"], "hostNetwork": host_net,
            "netns": netns, "hostVeth": None if host_net else host_veth_name(netns),
            "phase": "Pending", "ready": False, "labels": labels,
            "ownerReferences": md.get("ownerReferences", []),
            "owner": {"kind": owner["kind"], "name": owner["metadata"]["name"]} if owner else None,
            "containers": [], "object": obj}


def host_veth_name(netns):
    # Like the bridge CNI: "veth" + 8 hex characters.
    return "veth" + hashlib.sha256(netns.encode()).hexdigest()[:8]


def qos_class(spec):
    cs = spec.get("containers", [])
    any_set = False
    guaranteed = True
    for c in cs:
        r = c.get("resources") or {}
        req, lim = r.get("requests") or {}, r.get("limits") or {}
        if req or lim:
            any_set = True
        for res in ("cpu", "memory"):
            if res not in lim or (res in req and str(req[res]) != str(lim[res])):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


class Scheduler:
    """Places pods on nodes, round robin over all pods (so a Deployment's replicas land on different
    nodes), and gives each pod the next address of its node's pod CIDR."""

    def __init__(self, nodes):
        self.nodes = nodes
        self.turn = 0
        self.next_ip = {n["name"]: 2 for n in nodes}

    def place(self, node=None):
        if node is None:
            node = self.nodes[self.turn % len(self.nodes)]
            self.turn += 1
        net = ipaddress.ip_network(node["podCIDR"])
        a = str(net.network_address + self.next_ip[node["name"]])
        # .254 is the client's address on the first node; kept free on every node alike.
        if a.endswith(".254") or a == str(net.broadcast_address):
            raise ManifestError("pod CIDR %s exhausted" % node["podCIDR"])
        self.next_ip[node["name"]] += 1
        return node, a


def expand(docs, nodes=None, scale=None):
    """Return (objects, pods, services) for a fresh cluster built from manifest docs.

    nodes: the node facts (config.node_facts), default one node; scale: {workload name: replicas}
    overriding the replicas of Deployments and StatefulSets of that name.
    """
    ts = statefile.now_rfc3339()
    rv = 1000
    objs = []
    sched = Scheduler(nodes or [config.node_facts(0)])
    scale = scale or {}

    def replicas(d):
        return int(scale.get(d["metadata"]["name"], d["spec"].get("replicas", 1)))

    def rvn():
        nonlocal rv
        rv += 1
        return rv

    namespaces = {}
    for n in BASE_NAMESPACES:
        namespaces[n] = None
    docs = [copy.deepcopy(d) for d in docs]
    for d in docs:
        fill_metadata(d, ts, rvn())
        if d["kind"] == "Namespace":
            namespaces[d["metadata"]["name"]] = d
        elif d["kind"] in NAMESPACED:
            namespaces.setdefault(d["metadata"]["namespace"], None)
    for n, d in list(namespaces.items()):
        if d is None:
            namespaces[n] = fill_metadata({"apiVersion": "v1", "kind": "Namespace",
                                           "metadata": {"name": n, "labels": {
                                               "kubernetes.io/metadata.name": n}}}, ts, rvn())
        namespaces[n]["status"] = {"phase": "Active"}
        namespaces[n].setdefault("spec", {"finalizers": ["kubernetes"]})
    objs.extend(namespaces.values())

    sips = ServiceIPs()
    builtin_svcs = [
        {"kind": "Service", "metadata": {"name": "kubernetes", "namespace": "default",
                                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
         "spec": {"clusterIP": config.KUBERNETES_SVC_IP, "type": "ClusterIP",
                  "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}},
        {"kind": "Service", "metadata": {"name": "kube-dns", "namespace": "kube-system",
                                         "labels": {"k8s-app": "kube-dns"}},
         "spec": {"clusterIP": config.DNS_IP, "type": "ClusterIP", "selector": {"k8s-app": "kube-dns"},
                  "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                            {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]}},
    ]
    have = {(d["metadata"].get("namespace"), d["metadata"]["name"]) for d in docs if d["kind"] == "Service"}
    for b in builtin_svcs:
        if (b["metadata"]["namespace"], b["metadata"]["name"]) not in have:
            docs.append(fill_metadata(b, ts, rvn()))

    pods = []
    for d in docs:
        kind, md = d["kind"], d["metadata"]
        if kind == "Service":
            spec = d.setdefault("spec", {})
            spec.setdefault("type", "ClusterIP")
            cip = spec.get("clusterIP")
            if cip in (None, ""):
                spec["clusterIP"] = sips.alloc(md["namespace"], md["name"])
            elif cip != "None":
                sips.take(cip)
            spec["clusterIPs"] = [spec["clusterIP"]]
            spec.setdefault("sessionAffinity", "None")
            spec.setdefault("ipFamilies", ["IPv4"])
            for p in spec.get("ports", []):
                p.setdefault("protocol", "TCP")
                p.setdefault("targetPort", p["port"])
            d["status"] = {"loadBalancer": {}}
        elif kind == "Deployment":
            tmpl = d["spec"]["template"]
            h = template_hash(tmpl)
            rs_name = "%s-%s" % (md["name"], h)
            n = replicas(d)
            d["spec"]["replicas"] = n
            rs_tmpl = copy.deepcopy(tmpl)
            rs_tmpl.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = h
            sel = copy.deepcopy(d["spec"].get("selector") or {"matchLabels": dict(tmpl["metadata"]["labels"])})
            sel.setdefault("matchLabels", {})["pod-template-hash"] = h
            rs = fill_metadata({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                "metadata": {"name": rs_name, "namespace": md["namespace"],
                                             "labels": dict(rs_tmpl["metadata"]["labels"]),
                                             "annotations": {"deployment.kubernetes.io/revision": "1",
                                                             "deployment.kubernetes.io/desired-replicas": str(n)},
                                             "ownerReferences": [owner_ref(d)]},
                                "spec": {"replicas": n, "selector": sel, "template": rs_tmpl}}, ts, rvn())
            objs.append(rs)
            names = set()
            for _ in range(n):
                while True:
                    pn = "%s-%s" % (rs_name, random_suffix())
                    if pn not in names:
                        break
                names.add(pn)
                node, ip = sched.place()
                pods.append(make_pod(pn, md["namespace"], tmpl, rs, {"pod-template-hash": h}, ip, ts,
                                     rvn(), generate_name=rs_name + "-", node=node))
        elif kind == "StatefulSet":
            tmpl = d["spec"]["template"]
            rev = "%s-%s" % (md["name"], template_hash(tmpl))
            d["spec"]["replicas"] = replicas(d)
            for i in range(d["spec"]["replicas"]):
                pn = "%s-%d" % (md["name"], i)
                node, ip = sched.place()
                pod = make_pod(pn, md["namespace"], tmpl, d,
                               {"controller-revision-hash": rev,
                                "statefulset.kubernetes.io/pod-name": pn,
                                "apps.kubernetes.io/pod-index": str(i)}, ip, ts, rvn(), hostname=pn,
                               node=node)
                if d["spec"].get("serviceName"):
                    pod["object"]["spec"].setdefault("subdomain", d["spec"]["serviceName"])
                pods.append(pod)
        elif kind == "DaemonSet":
            tmpl = d["spec"]["template"]
            h = template_hash(tmpl)
            for node in sched.nodes:  # one pod per node
                node, ip = sched.place(node)
                pods.append(make_pod("%s-%s" % (md["name"], random_suffix()), md["namespace"], tmpl, d,
                                     {"controller-revision-hash": h, "pod-template-generation": "1"},
                                     ip, ts, rvn(), generate_name=md["name"] + "-", node=node))
        elif kind == "Pod":
            node, ip = sched.place()
            pod = make_pod(md["name"], md["namespace"], {"metadata": md, "spec": d.get("spec")}, None,
                           {}, ip, ts, rvn(), node=node)
            pod["uid"] = pod["object"]["metadata"]["uid"] = md["uid"]
            pods.append(pod)
            continue  # the Pod object lives in pods[]
        objs.append(d)
    services = [service_facts(o) for o in objs if o["kind"] == "Service"]
    return objs, pods, services


def service_facts(o):
    s = o["spec"]
    return {"name": o["metadata"]["name"], "namespace": o["metadata"]["namespace"],
            "clusterIP": s.get("clusterIP"), "headless": s.get("clusterIP") == "None",
            "selector": s.get("selector") or {}, "ports": s.get("ports", []), "endpoints": []}


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def endpoints(svc, pods):
    """Endpoints of a Service: every matching pod with its resolved target ports."""
    out = []
    for p in pods:
        if p["namespace"] != svc["namespace"] or not selects(svc["selector"], p["labels"]):
            continue
        ports = []
        for sp in svc["ports"]:
            tp = _container_port(p["object"]["spec"], sp.get("targetPort", sp["port"]))
            if tp is not None:
                ports.append({"name": sp.get("name", ""), "port": tp, "protocol": sp.get("protocol", "TCP"),
                              "servicePort": sp["port"]})
        out.append({"ip": p["podIP"], "pod": p["name"], "uid": p["uid"], "ready": bool(p["ready"]),
                    "ports": ports})
    return out
