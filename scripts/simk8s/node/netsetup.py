"""Creates and removes the node, pod, client and fabric network namespaces, the cni0 bridges, the root-namespace uplinks and the routes between nodes."""
import os
import subprocess

from simk8s import config, statefile


class NetError(Exception):
    pass


def run(*args, check=True):
    p = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and p.returncode != 0:
        raise NetError("%s: %s" % (" ".join(args), p.stderr.strip()))
    return p


def ns_run(ns, *args, check=True):
    return run("ip", "netns", "exec", ns, *args, check=check)


def sysctl(ns, key, value):
    # Written through /proc of a process in the namespace would need one; ip netns exec is simplest.
    ns_run(ns, "sysctl", "-q", "-w", "%s=%s" % (key, value))


def list_netns():
    p = run("ip", "netns", "list", check=False)
    return [line.split()[0] for line in p.stdout.splitlines() if line.strip()]


def ours(name):
    return name in (config.NODE_NETNS, config.CLIENT_NETNS, config.FABRIC_NETNS) or \
        name.startswith(config.POD_NETNS_PREFIX) or name.startswith(config.NODE_NETNS + "-")


def add_netns(name):
    statefile.ledger_add("netns", name)
    run("ip", "netns", "add", name)
    run("ip", "-n", name, "link", "set", "lo", "up")
    sysctl(name, "net.ipv6.conf.all.disable_ipv6", 1)
    sysctl(name, "net.ipv6.conf.default.disable_ipv6", 1)


def create_node(mode, node=None):
    """Create a node (default: the first); return the pod network mode actually used ("bridge" or "routed")."""
    node = node or config.node_facts(0)
    n = node["netns"]
    add_netns(n)
    statefile.ledger_add("link", node["rootLink"])
    run("ip", "link", "add", node["rootLink"], "type", "veth", "peer", "name", config.NODE_LINK,
        "netns", n)
    # The root namespace gets only this /30: no route towards the pod or Service CIDRs.
    run("ip", "addr", "add", "%s/%d" % (node["rootLinkIP"], config.LINK_PREFIX), "dev", node["rootLink"])
    run("ip", "link", "set", node["rootLink"], "up")
    run("ip", "-n", n, "addr", "add", "%s/%d" % (node["internalIP"], config.LINK_PREFIX), "dev", config.NODE_LINK)
    run("ip", "-n", n, "link", "set", config.NODE_LINK, "up")
    run("ip", "-n", n, "link", "add", config.BRIDGE, "type", "bridge")
    run("ip", "-n", n, "addr", "add", "%s/%d" % (node["bridgeIP"], config.POD_PREFIX), "dev", config.BRIDGE)
    run("ip", "-n", n, "link", "set", config.BRIDGE, "up")
    # The DNS Service address is local to the node; the rest of the Service CIDR is routed to
    # the bridge so that connections the node itself opens reach the output DNAT hook.
    run("ip", "-n", n, "addr", "add", "%s/32" % config.DNS_IP, "dev", "lo")
    run("ip", "-n", n, "route", "add", config.SERVICE_CIDR, "dev", config.BRIDGE, "src", node["bridgeIP"])
    sysctl(n, "net.ipv4.ip_forward", 1)
    if mode == "bridge" and not br_netfilter(n):
        mode = "routed"
    return mode


def connect_nodes(nodes):
    """The network between nodes: every node's eth1 on bridge br0 of netns bm-fabric (one L2 segment).

    Like a routed CNI without overlay (Calico BGP, flannel host-gw): each node routes every other
    node's pod CIDR via that node's InternalIP, reached over eth1. eth1 carries the InternalIP as
    a /32 too: without an address of its own, ARP on eth1 would speak for the DNS address on lo,
    which every node has, and the peer drops ARP from its own address. Nothing of this is in the
    root namespace.
    """
    f = config.FABRIC_NETNS
    add_netns(f)
    run("ip", "-n", f, "link", "add", config.FABRIC_BRIDGE, "type", "bridge")
    run("ip", "-n", f, "link", "set", config.FABRIC_BRIDGE, "up")
    for node in nodes:
        port = "node%d" % node["index"]
        run("ip", "-n", f, "link", "add", port, "type", "veth", "peer", "name", config.FABRIC_LINK,
            "netns", node["netns"])
        run("ip", "-n", f, "link", "set", port, "master", config.FABRIC_BRIDGE)
        run("ip", "-n", f, "link", "set", port, "up")
        run("ip", "-n", node["netns"], "addr", "add", "%s/32" % node["internalIP"], "dev", config.FABRIC_LINK)
        run("ip", "-n", node["netns"], "link", "set", config.FABRIC_LINK, "up")
    for node in nodes:
        for peer in nodes:
            if peer is node:
                continue
            n = node["netns"]
            run("ip", "-n", n, "route", "add", "%s/32" % peer["internalIP"], "dev", config.FABRIC_LINK,
                "src", node["internalIP"])
            run("ip", "-n", n, "route", "add", peer["podCIDR"], "via", peer["internalIP"], "dev",
                config.FABRIC_LINK, "src", node["bridgeIP"])


def br_netfilter(n):
    """Bridged pod<->pod replies after a Service DNAT must see conntrack: br_netfilter, per netns."""
    if not os.path.exists("/proc/sys/net/bridge"):
        run("modprobe", "br_netfilter", check=False)
    return ns_run(n, "sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=1",
                  check=False).returncode == 0


ROUTED_GW = "169.254.1.1"  # Calico's fake next hop, answered by proxy ARP on the host veth


def create_workload_ns(name, veth, ip, mode, node=None):
    """A pod-like namespace with eth0 inside and veth<hash> in the node.

    bridge: the host veth is a port of cni0 (bridge CNI). routed: the pod has a /32, the node a
    /32 route per pod on its host veth with proxy ARP (Calico style), so every packet is routed.
    """
    node = node or config.node_facts(0)
    add_netns(name)
    statefile.ledger_add("link-node", veth)
    n = node["netns"]
    run("ip", "link", "add", veth, "netns", n, "type", "veth", "peer", "name", "eth0", "netns", name)
    run("ip", "-n", name, "link", "set", "eth0", "up")
    if mode == "routed":
        run("ip", "-n", name, "addr", "add", "%s/32" % ip, "dev", "eth0")
        run("ip", "-n", name, "route", "add", ROUTED_GW, "dev", "eth0", "scope", "link")
        # The node has no route to the fake next hop, so proxy ARP would stay silent for it:
        # pin the neighbour entry to the host veth's MAC instead (what Calico's hosts get from
        # their default route).
        mac = run("ip", "-n", n, "-o", "link", "show", veth).stdout.split("link/ether ")[1].split()[0]
        run("ip", "-n", name, "neigh", "replace", ROUTED_GW, "lladdr", mac, "dev", "eth0", "nud", "permanent")
        run("ip", "-n", name, "route", "add", "default", "via", ROUTED_GW, "dev", "eth0")
        sysctl(n, "net.ipv4.conf.%s.proxy_arp" % veth, 1)
        run("ip", "-n", n, "link", "set", veth, "up")
        run("ip", "-n", n, "route", "add", "%s/32" % ip, "dev", veth, "src", node["bridgeIP"])
        return
    run("ip", "-n", name, "addr", "add", "%s/%d" % (ip, config.POD_PREFIX), "dev", "eth0")
    run("ip", "-n", name, "route", "add", "default", "via", node["bridgeIP"])
    run("ip", "-n", n, "link", "set", veth, "master", config.BRIDGE)
    run("ip", "-n", n, "link", "set", veth, "type", "bridge_slave", "hairpin", "on")
    run("ip", "-n", n, "link", "set", veth, "up")


def netns_pids(name):
    p = run("ip", "netns", "pids", name, check=False)
    return [int(x) for x in p.stdout.split() if x.isdigit()]


def delete_all():
    """Remove every namespace and link the cluster made (idempotent)."""
    for name in list_netns():
        if ours(name):
            run("ip", "netns", "del", name, check=False)
    for k in range(config.MAX_NODES):
        link = config.node_facts(k)["rootLink"]
        if os.path.exists("/sys/class/net/" + link):
            run("ip", "link", "del", link, check=False)
