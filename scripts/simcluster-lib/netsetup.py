"""Creates and removes the node, pod and client network namespaces, the cni0 bridge and the root-namespace uplink."""
import os
import subprocess

import config
import state


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
    return name in (config.NODE_NETNS, config.CLIENT_NETNS) or name.startswith(config.POD_NETNS_PREFIX)


def add_netns(name):
    state.ledger_add("netns", name)
    run("ip", "netns", "add", name)
    run("ip", "-n", name, "link", "set", "lo", "up")
    sysctl(name, "net.ipv6.conf.all.disable_ipv6", 1)
    sysctl(name, "net.ipv6.conf.default.disable_ipv6", 1)


def create_node():
    n = config.NODE_NETNS
    add_netns(n)
    state.ledger_add("link", config.ROOT_LINK)
    run("ip", "link", "add", config.ROOT_LINK, "type", "veth", "peer", "name", config.NODE_LINK,
        "netns", n)
    # The root namespace gets only this /30: no route towards the pod or Service CIDRs.
    run("ip", "addr", "add", "%s/%d" % (config.ROOT_LINK_IP, config.LINK_PREFIX), "dev", config.ROOT_LINK)
    run("ip", "link", "set", config.ROOT_LINK, "up")
    run("ip", "-n", n, "addr", "add", "%s/%d" % (config.NODE_IP, config.LINK_PREFIX), "dev", config.NODE_LINK)
    run("ip", "-n", n, "link", "set", config.NODE_LINK, "up")
    run("ip", "-n", n, "link", "add", config.BRIDGE, "type", "bridge")
    run("ip", "-n", n, "addr", "add", "%s/%d" % (config.BRIDGE_IP, config.POD_PREFIX), "dev", config.BRIDGE)
    run("ip", "-n", n, "link", "set", config.BRIDGE, "up")
    # The DNS Service address is local to the node; the rest of the Service CIDR is routed to
    # the bridge so that connections the node itself opens reach the output DNAT hook.
    run("ip", "-n", n, "addr", "add", "%s/32" % config.DNS_IP, "dev", "lo")
    run("ip", "-n", n, "route", "add", config.SERVICE_CIDR, "dev", config.BRIDGE, "src", config.BRIDGE_IP)
    sysctl(n, "net.ipv4.ip_forward", 1)
    # Bridged pod<->pod replies after a Service DNAT must see conntrack (br_netfilter, per netns).
    sysctl(n, "net.bridge.bridge-nf-call-iptables", 1)


def create_workload_ns(name, veth, ip, hostname_unused=None):
    """A pod-like namespace: eth0 inside, veth<hash> on the node bridge (bridge CNI style)."""
    add_netns(name)
    state.ledger_add("link-node", veth)
    run("ip", "link", "add", veth, "netns", config.NODE_NETNS, "type", "veth", "peer", "name", "eth0",
        "netns", name)
    run("ip", "-n", name, "addr", "add", "%s/%d" % (ip, config.POD_PREFIX), "dev", "eth0")
    run("ip", "-n", name, "link", "set", "eth0", "up")
    run("ip", "-n", name, "route", "add", "default", "via", config.BRIDGE_IP)
    n = config.NODE_NETNS
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
    if os.path.exists("/sys/class/net/" + config.ROOT_LINK):
        run("ip", "link", "del", config.ROOT_LINK, check=False)
