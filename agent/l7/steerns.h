/* The agent's private steer namespace: where filtered-steal connections are terminated. */
#ifndef BPFMIRROR_STEERNS_H
#define BPFMIRROR_STEERNS_H

/*
 * Filtered steal terminates client connections to a pod port in the agent's
 * L7 router, without iptables and without touching the pod (see
 * docs/design-router.md, "Steering"):
 *
 *   client -> node ns -> pod link, tc egress: bm_route() redirects the
 *   packet to the egress of "bpfmr0" (node ns) -> its veth peer "bpfmr1" in
 *   this namespace -> policy rule "iif bpfmr1 lookup 238", table 238 holds
 *   "local 0.0.0.0/0 dev lo": every packet arriving there is local -> the
 *   router's IP_TRANSPARENT listener bound to (pod IP, port) accepts it.
 *   Replies leave through the default route via bpfmr0 and are routed (and,
 *   for Service traffic, un-DNATed by the node's conntrack) to the client.
 *   The router's app connections are made here too, bound to the client's
 *   address (IP_TRANSPARENT): bm_from_router (tc ingress of bpfmr0) carries
 *   them to the pod, bm_from_pod returns the pod's answers through bpfmr0,
 *   and the same rule and local route deliver those to the upstream socket.
 *
 * A namespace of its own because the node's conntrack already tracked the
 * forwarded packet: delivering it locally in the node namespace would make a
 * second, clashing entry for Service traffic. Everything lives in that
 * namespace, which is held only by an fd of the agent: on exit, kill -9
 * included, the kernel deletes it with the veth pair and the rules; nothing
 * is left on the node.
 */
struct steerns {
	int ns_fd;	   /* the steer namespace */
	int home_fd;	   /* the agent's own (node) namespace */
	int node_ifindex;  /* bpfmr0, in the node namespace: the BPF redirect target */
	int inner_ifindex; /* bpfmr1, in the steer namespace */
};

#define STEERNS_NODE_DEV  "bpfmr0"
#define STEERNS_INNER_DEV "bpfmr1"
#define STEERNS_TABLE	  238
#define STEERNS_NODE_ADDR "169.254.238.1"
#define STEERNS_ADDR	  "169.254.238.2"

/* Creates the namespace, the veth pair, addresses, rule and routes; 0 or -errno. */
int steerns_open(struct steerns *rn);
/* Closes the fds: the namespace and its links go away. */
void steerns_close(struct steerns *rn);
/* A socket created inside the steer namespace (CLOEXEC, NONBLOCK); fd or -errno. */
int steerns_socket(struct steerns *rn, int domain, int type, int proto);

#endif
