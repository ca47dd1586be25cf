"""Reading and atomically writing state.json, and the ledger of created resources."""
import json
import os
import time

from simk8s import config


def now_rfc3339(t=None):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t if t is not None else time.time()))


def load(path=config.STATE_FILE):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def save(st, path=config.STATE_FILE):
    """Write via rename so readers (API server, DNS) never see half a file."""
    st["generation"] = st.get("generation", 0) + 1
    st["updatedAt"] = now_rfc3339()
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        json.dump(st, f, indent=1, sort_keys=True)
        f.write("\n")
    os.rename(tmp, path)


def ledger_add(kind, value):
    """Record a resource before creating it, so down can remove it after a crash."""
    os.makedirs(config.STATE_DIR, exist_ok=True)
    with open(config.LEDGER_FILE, "a") as f:
        f.write("%s %s\n" % (kind, value))


def ledger_read():
    out = []
    try:
        with open(config.LEDGER_FILE) as f:
            for line in f:
                parts = line.rstrip("\n").split(" ", 1)
                if len(parts) == 2:
                    out.append((parts[0], parts[1]))
    except OSError:
        pass
    return out


def nodes(st):
    """The nodes of a state: `nodes` (several nodes), else the one `node` (older states)."""
    return st.get("nodes") or [st["node"]]
