"""The kube-proxy equivalent: one nftables table inside the node namespace, rebuilt whenever endpoints change."""
import subprocess

from simk8s import config

TABLE = "simcluster"


def ruleset(services, bridge_ip=None):
    """nft script that replaces the whole table in one transaction (for the node whose cni0 has bridge_ip).

    Every node gets the same DNAT to all ready endpoints, wherever they run: a pod on another
    node is reached over the routes between nodes (netsetup.connect_nodes).
    """
    bridge_ip = bridge_ip or config.BRIDGE_IP
    dnat = []
    reject = []
    hairpin = set()
    for s in services:
        if s["headless"] or not s["clusterIP"] or s["clusterIP"] == config.DNS_IP:
            continue
        for sp in s["ports"]:
            proto = sp.get("protocol", "TCP").lower()
            if proto not in ("tcp", "udp"):
                continue
            eps = []
            for ep in s["endpoints"]:
                if not ep["ready"]:
                    continue
                for p in ep["ports"]:
                    if p["servicePort"] == sp["port"] and p["protocol"].lower() == proto:
                        eps.append((ep["ip"], p["port"]))
                        hairpin.add(ep["ip"])
            match = "ip daddr %s %s dport %d" % (s["clusterIP"], proto, sp["port"])
            if not eps:
                reject.append("%s reject%s" % (match, " with tcp reset" if proto == "tcp" else ""))
            elif len(eps) == 1:
                dnat.append("%s dnat ip to %s:%d" % (match, eps[0][0], eps[0][1]))
            else:
                m = ", ".join("%d : %s . %d" % (i, ip, port) for i, (ip, port) in enumerate(eps))
                dnat.append("%s dnat ip to numgen random mod %d map { %s }" % (match, len(eps), m))
    lines = ["table ip %s" % TABLE, "delete table ip %s" % TABLE, "table ip %s {" % TABLE]
    lines.append("  chain services {")
    lines += ["    " + r for r in dnat]
    lines.append("  }")
    lines.append("  chain prerouting { type nat hook prerouting priority dstnat; policy accept; jump services; }")
    lines.append("  chain output { type nat hook output priority -100; policy accept; jump services; }")
    lines.append("  chain postrouting { type nat hook postrouting priority srcnat; policy accept;")
    # A pod reaching itself through its Service (hairpin) gets the node address as source.
    for ip in sorted(hairpin):
        lines.append("    ip saddr %s ip daddr %s ct status dnat snat ip to %s" % (ip, ip, bridge_ip))
    lines.append("  }")
    lines.append("  chain noendpoints {")
    lines += ["    " + r for r in reject]
    lines.append("  }")
    lines.append("  chain filter_forward { type filter hook forward priority filter; policy accept;")
    # Nothing leaves the node towards the machine: the uplink is for the developer side only.
    lines.append('    oifname "%s" drop' % config.NODE_LINK)
    lines.append("    jump noendpoints")
    lines.append("  }")
    lines.append("  chain filter_output { type filter hook output priority filter; policy accept; jump noendpoints; }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def apply(services, nodes=None):
    """Rewrite the table on every node (default: the first node only)."""
    for node in nodes or [config.node_facts(0)]:
        script = ruleset(services, node["bridgeIP"])
        p = subprocess.run(["ip", "netns", "exec", node["netns"], "nft", "-f", "-"], input=script,
                           text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode != 0:
            raise RuntimeError("nft on %s: %s\n%s" % (node["name"], p.stderr.strip(), script))
