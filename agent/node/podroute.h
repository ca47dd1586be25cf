/* Finds a pod's host-side interface (and this node's source address toward it) by route lookup. */
#ifndef BPFMIRROR_PODROUTE_H
#define BPFMIRROR_PODROUTE_H

#include "datapath.h"

/*
 * Asks the kernel (rtnetlink RTM_GETROUTE, current network namespace) how it
 * would route to pod. On success *ifindex is the output link (the pod's
 * host-side veth/lxc device) and, if node_src is not NULL, *node_src is the
 * route's preferred source address (what kubelet probes come from; family 0
 * when the kernel gives none). Returns 0, -EHOSTUNREACH/-ENETUNREACH when
 * there is no route, -EADDRNOTAVAIL when the address is local to this
 * namespace (not a pod behind a link), or another -errno.
 */
int podroute_lookup(const struct datapath_ip *pod, int *ifindex, struct datapath_ip *node_src);

#endif
