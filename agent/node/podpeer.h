/* Finds a pod's host-side veth from inside the pod: the peer of the link holding its IP. */
#ifndef BPFMIRROR_PODPEER_H
#define BPFMIRROR_PODPEER_H

#include <sys/types.h>

/*
 * Enters the network namespace of process PID (PROC/PID/ns/net) in a child
 * process, finds the interface carrying POD_IP (IPv4 text) and returns the
 * ifindex of its peer (IFLA_LINK) as seen from the calling thread's network
 * namespace (where the data plane attaches). This
 * is what a bridge CNI needs: the route to a pod points at the bridge, but
 * pod-to-pod traffic is switched to the pod's veth port.
 * Every step fails closed, so a client cannot name another pod's or the
 * node's address. Returns 0; -EADDRNOTAVAIL when no interface of the
 * container holds POD_IP; -EAFNOSUPPORT for a non-IPv4 address; -ENOENT when
 * that interface has no peer (lo, a dummy: not a veth); -EXDEV when the peer
 * is not in that namespace (a veth pair inside the pod, or one into a third
 * namespace, whose peer index could name any link here); or -errno.
 */
int podpeer_lookup(const char *proc_root, pid_t pid, const char *pod_ip, int *ifindex);

#endif
