/* Finds a pod's host-side veth from inside the pod: the peer of the link holding its IP. */
#include "podpeer.h"
#include "netns_run.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/net_namespace.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct peer_query {
	const char *pod_ip;
	int home_fd; /* the agent's network namespace, opened before the child moves */
};

/* Sends REQ on a fresh rtnetlink socket and reads one answer into BUF; returns its length. */
static int nl_ask(void *req, size_t len, char *buf, size_t buflen)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	ssize_t n;

	if (fd < 0)
		return -errno;
	if (send(fd, req, len, 0) < 0)
		n = -errno;
	else if ((n = recv(fd, buf, buflen, 0)) < 0)
		n = -errno;
	close(fd);
	return (int)n;
}

/*
 * Interface IDX's peer in the current namespace: IFLA_LINK and the namespace
 * id it lives in (IFLA_LINK_NETNSID, -1 when absent: same namespace).
 * Returns the peer's ifindex, -ENOENT when IDX has none, or -errno.
 */
static int link_peer(int idx, int *netnsid)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req = {0};
	char buf[8192] __attribute__((aligned(4)));
	int peer = -ENOENT, n;

	*netnsid = -1;
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.ifi));
	req.nh.nlmsg_type = RTM_GETLINK;
	req.nh.nlmsg_flags = NLM_F_REQUEST;
	req.ifi.ifi_family = AF_UNSPEC;
	req.ifi.ifi_index = idx;
	n = nl_ask(&req, req.nh.nlmsg_len, buf, sizeof(buf));
	if (n < 0)
		return n;
	for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n);
	     nh = NLMSG_NEXT(nh, n)) {
		struct ifinfomsg *ifi;
		struct rtattr *rta;
		int len;
		if (nh->nlmsg_type != RTM_NEWLINK)
			continue;
		ifi = NLMSG_DATA(nh);
		len = (int)IFLA_PAYLOAD(nh);
		for (rta = IFLA_RTA(ifi); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
			if (rta->rta_type == IFLA_LINK && RTA_PAYLOAD(rta) >= sizeof(int))
				memcpy(&peer, RTA_DATA(rta), sizeof(int));
			if (rta->rta_type == IFLA_LINK_NETNSID && RTA_PAYLOAD(rta) >= sizeof(int))
				memcpy(netnsid, RTA_DATA(rta), sizeof(int));
		}
	}
	return peer;
}

/* The id the current namespace gives the namespace of FD (RTM_GETNSID), or -errno. */
static int nsid_of(int fd)
{
	struct {
		struct nlmsghdr nh;
		struct rtgenmsg g;
		char attrs[16];
	} req = {0};
	char buf[1024] __attribute__((aligned(4)));
	struct rtattr *rta;
	int n, id = -ENOENT;

	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.g));
	req.nh.nlmsg_type = RTM_GETNSID;
	req.nh.nlmsg_flags = NLM_F_REQUEST;
	req.g.rtgen_family = AF_UNSPEC;
	rta = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.nh.nlmsg_len));
	rta->rta_type = NETNSA_FD;
	rta->rta_len = RTA_LENGTH(sizeof(int));
	memcpy(RTA_DATA(rta), &fd, sizeof(int));
	req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(rta->rta_len);
	n = nl_ask(&req, req.nh.nlmsg_len, buf, sizeof(buf));
	if (n < 0)
		return n;
	for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n);
	     nh = NLMSG_NEXT(nh, n)) {
		int len = (int)NLMSG_PAYLOAD(nh, sizeof(struct rtgenmsg));
		if (nh->nlmsg_type == NLMSG_ERROR)
			return ((struct nlmsgerr *)NLMSG_DATA(nh))->error ?: -EPROTO;
		if (nh->nlmsg_type != RTM_NEWNSID)
			continue;
		rta = (struct rtattr *)((char *)NLMSG_DATA(nh) +
					NLMSG_ALIGN(sizeof(struct rtgenmsg)));
		for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len))
			if (rta->rta_type == NETNSA_NSID && RTA_PAYLOAD(rta) >= sizeof(int))
				memcpy(&id, RTA_DATA(rta), sizeof(int));
	}
	return id;
}

/* Runs in the child, inside the pod's namespace. */
static int find_peer(const struct peer_query *q)
{
	struct ifaddrs *ifa = NULL;
	struct in_addr want;
	int idx = 0, peer, link_ns, home_ns;

	if (inet_pton(AF_INET, q->pod_ip, &want) != 1)
		return -EAFNOSUPPORT;
	if (getifaddrs(&ifa) < 0)
		return -errno;
	for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		    ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr == want.s_addr) {
			idx = (int)if_nametoindex(i->ifa_name);
			break;
		}
	}
	freeifaddrs(ifa);
	/* The client names the pod IP: it must really be the container's. */
	if (!idx)
		return -EADDRNOTAVAIL;
	peer = link_peer(idx, &link_ns);
	if (peer <= 0)
		return peer ? peer : -ENOENT; /* lo, a dummy, ...: no peer */
	/*
	 * An ifindex means nothing without its namespace: a veth pair inside the
	 * pod, or one into a third namespace, may carry any number. The peer must
	 * live in the agent's own namespace.
	 */
	home_ns = nsid_of(q->home_fd);
	if (link_ns < 0 || home_ns < 0 || link_ns != home_ns)
		return -EXDEV;
	return peer;
}

static int find_peer_fn(void *ctx, void *out, size_t outlen)
{
	int peer = find_peer(ctx);

	if (peer <= 0)
		return peer ? peer : -ENOENT;
	if (outlen < sizeof(peer))
		return -ENOSPC;
	memcpy(out, &peer, sizeof(peer));
	return sizeof(peer);
}

int podpeer_lookup(const char *proc_root, pid_t pid, const char *pod_ip, int *ifindex)
{
	struct peer_query q = {.pod_ip = pod_ip};
	char name[IF_NAMESIZE];
	int peer = 0, rc;

	/* This thread's namespace: the one the data plane works in and the child starts from. */
	q.home_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (q.home_fd < 0)
		return -errno;
	rc = netns_run(proc_root, pid, find_peer_fn, &q, &peer, sizeof(peer));
	close(q.home_fd);
	if (rc < 0)
		return rc;
	if (rc != sizeof(peer) || peer <= 0)
		return -ENOENT;
	/* The peer's index is in our namespace: it must name a link here. */
	if (!if_indextoname((unsigned)peer, name))
		return -EXDEV;
	*ifindex = peer;
	return 0;
}
