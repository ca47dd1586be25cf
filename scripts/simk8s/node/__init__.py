"""The simulated node: what `scripts/simcluster up` builds and the daemons that keep it running.

manifests.py: manifests -> the objects a control plane would create;
netsetup.py: namespaces, bridge, uplink; kubeproxy.py: Service rules (nftables);
runtime.py: containers (binaries.map, env, volumes, cgroups); launch.py: the
process that enters a container's namespaces and execs its command;
kubelet.py and dns.py: the node's daemons (`python3 -m simk8s.node.kubelet`,
`python3 -m simk8s.node.dns`).
"""
