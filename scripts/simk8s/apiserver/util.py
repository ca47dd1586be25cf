"""Small helpers shared by the simcluster API endpoint's object builders (uids, times, hashes)."""

import datetime
import hashlib
import json
import platform
import uuid

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


def as_time(value, default):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return rfc3339(value)
    if isinstance(value, str) and parse_time(value) is not None:
        return value
    return default


def template_hash(template):
    """A pod-template-hash shaped like the controller's (10 chars of its safe alphabet)."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(_HASH_ALPHABET[b % len(_HASH_ALPHABET)] for b in digest[:10])


def node_arch():
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def omit_zero(status, *names):
    for name in names:
        if not status.get(name):
            status.pop(name, None)
    return status


def make_meta(kind, name, namespace, uid, created, labels=None, annotations=None, owner=None):
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



def pod_ready(pod):
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in pod["status"].get("conditions", []))


def named_port(pod, name):
    for c in pod["spec"].get("containers", []):
        for p in c.get("ports") or []:
            if p.get("name") == name:
                return p.get("containerPort")
    return None


def qos_class(spec):
    res = [c.get("resources") or {} for c in spec.get("containers", [])]
    if not any(r.get("requests") or r.get("limits") for r in res):
        return "BestEffort"
    for r in res:
        lim = r.get("limits") or {}
        req = r.get("requests") or lim  # requests default to the limits
        if not (lim.get("cpu") and lim.get("memory") and req == lim):
            return "Burstable"
    return "Guaranteed"


