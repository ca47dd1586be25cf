"""Fixed names, addresses and paths of the simulated node (one place, shared by the command and node/)."""
import os
import sys

PACKAGE = os.path.dirname(os.path.realpath(__file__))  # scripts/simk8s
PACKAGE_PARENT = os.path.dirname(PACKAGE)  # scripts/: the module path (PYTHONPATH) of our processes
REPO = os.path.dirname(PACKAGE_PARENT)

# State lives in the repo's build folder so every engineer finds it at the same place.
STATE_DIR = os.environ.get("SIMCLUSTER_STATE_DIR", os.path.join(REPO, "build", "simcluster"))
STATE_FILE = os.path.join(STATE_DIR, "state.json")
LEDGER_FILE = os.path.join(STATE_DIR, "ledger.txt")  # what up created, for down after a crash
LOG_DIR = os.path.join(STATE_DIR, "logs")
RUN_DIR = os.path.join(STATE_DIR, "run")  # pid files, launcher specs, volumes
KUBECONFIG = os.path.join(STATE_DIR, "kubeconfig")
UP_MARKER = os.path.join(RUN_DIR, "up")  # daemons exit when this disappears

CLUSTER_NAME = "simcluster"
NODE_NAME = "sim-node-1"
NODE_NETNS = "bm-node"
CLIENT_NETNS = "bm-client"
POD_NETNS_PREFIX = "bm-pod-"
BRIDGE = "cni0"

ROOT_LINK = "bm-node0"  # root-namespace side of the node uplink
NODE_LINK = "eth0"  # node side
ROOT_LINK_IP = "169.254.123.1"
NODE_IP = "169.254.123.2"
LINK_PREFIX = 30

POD_CIDR = "10.244.0.0/24"
POD_PREFIX = 24
BRIDGE_IP = "10.244.0.1"
CLIENT_IP = "10.244.0.254"
SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SVC_IP = "10.96.0.1"
DNS_IP = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"

# Several nodes (`up --nodes N`): node k (0-based) is netns bm-node (k = 0) or bm-node-<k+1>, named
# sim-node-<k+1>, with uplink bm-node<k> (root 169.254.123.<4k+1>/30, InternalIP .<4k+2>) and pod
# CIDR 10.244.<k>.0/24. The nodes share one L2 segment, bridge br0 of netns bm-fabric (their eth1),
# over which each routes the other nodes' pod CIDRs via their InternalIPs, as a routed CNI does.
MAX_NODES = 8
FABRIC_NETNS = "bm-fabric"
FABRIC_BRIDGE = "br0"
FABRIC_LINK = "eth1"  # node side
MULTI_POD_CIDR = "10.244.0.0/16"


def node_facts(k):
    """Names and addresses of node k (0-based); k = 0 is the one-node cluster's node, unchanged."""
    return {"index": k, "name": "sim-node-%d" % (k + 1),
            "netns": NODE_NETNS if k == 0 else "%s-%d" % (NODE_NETNS, k + 1),
            "internalIP": "169.254.123.%d" % (4 * k + 2), "rootLink": "bm-node%d" % k,
            "rootLinkIP": "169.254.123.%d" % (4 * k + 1), "podCIDR": "10.244.%d.0/24" % k,
            "bridge": BRIDGE, "bridgeIP": "10.244.%d.1" % k}


API_LISTEN = "127.0.0.1:6443"
APISERVER_MODULE = "simk8s.apiserver"
AGENT = os.path.join(REPO, "build", "bpfmirror-agent")
AGENT_PORT = 47100  # the chart's control port
AGENT_MANIFEST = os.path.join(REPO, "test", "cluster", "agent", "bpfmirror-agent.yaml")

CGROUP_ROOT = "/sys/fs/cgroup/unified"  # cgroup v2 (hybrid layout on our machines)
KUBEPODS = "kubepods.slice"

PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"
KUBE_VERSION = "v1.35.0"
PROBE_UA = "kube-probe/1.35"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Bounds of the background daemons (kubelet loop, DNS): they stop on their own.
DAEMON_MAX_SECONDS = int(os.environ.get("SIMCLUSTER_MAX_SECONDS", str(12 * 3600)))


def python_module(module, *args):
    """argv running one of our modules (`python3 -m`); scripts/simcluster put PACKAGE_PARENT on PYTHONPATH.

    -B keeps the source tree free of root-owned __pycache__; -P (python >= 3.11)
    keeps the caller's working directory off the module path.
    """
    safe = ["-P"] if sys.version_info >= (3, 11) else []
    return [PYTHON, "-B"] + safe + ["-m", module] + list(args)


def caller_environ():
    """The environment scripts/simcluster was called with: os.environ without our PYTHONPATH entry.

    `client -- CMD` runs CMD with the caller's environment; a python CMD must
    not see our package path.
    """
    env = dict(os.environ)
    parts = env.get("PYTHONPATH", "").split(os.pathsep)
    if parts[0] == PACKAGE_PARENT:
        if parts[1:]:
            env["PYTHONPATH"] = os.pathsep.join(parts[1:])
        else:
            del env["PYTHONPATH"]
    return env
