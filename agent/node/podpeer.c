/* Finds a pod's host-side veth from inside the pod: the peer of the link holding its IP. */
#include "podpeer.h"
#include "netns_run.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* IFLA_LINK of interface IDX in the current namespace; 0 when it has none. */
static int link_peer(int idx)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req = {0};
	char buf[8192];
	int fd, peer = -ENOENT;
	ssize_t n;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.ifi));
	req.nh.nlmsg_type = RTM_GETLINK;
	req.nh.nlmsg_flags = NLM_F_REQUEST;
	req.ifi.ifi_family = AF_UNSPEC;
	req.ifi.ifi_index = idx;
	if (send(fd, &req, req.nh.nlmsg_len, 0) < 0) {
		peer = -errno;
		goto out;
	}
	n = recv(fd, buf, sizeof(buf), 0);
	if (n < 0) {
		peer = -errno;
		goto out;
	}
	for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n);
	     nh = NLMSG_NEXT(nh, n)) {
		struct ifinfomsg *ifi;
		struct rtattr *rta;
		int len;
		if (nh->nlmsg_type != RTM_NEWLINK)
			continue;
		ifi = NLMSG_DATA(nh);
		len = (int)IFLA_PAYLOAD(nh);
		for (rta = IFLA_RTA(ifi); RTA_OK(rta, len); rta = RTA_NEXT(rta, len))
			if (rta->rta_type == IFLA_LINK && RTA_PAYLOAD(rta) >= sizeof(int))
				memcpy(&peer, RTA_DATA(rta), sizeof(int));
	}
out:
	close(fd);
	return peer;
}

/* Runs in the child, inside the pod's namespace. */
static int find_peer(const char *pod_ip)
{
	struct ifaddrs *ifa = NULL;
	struct in_addr want;
	int idx = 0;

	if (inet_pton(AF_INET, pod_ip, &want) != 1)
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
	return idx ? link_peer(idx) : -EADDRNOTAVAIL;
}

static int find_peer_fn(void *ctx, void *out, size_t outlen)
{
	int peer = find_peer(ctx);

	if (peer <= 0)
		return peer ? peer : -ENOENT; /* not a veth: no peer */
	if (outlen < sizeof(peer))
		return -ENOSPC;
	memcpy(out, &peer, sizeof(peer));
	return sizeof(peer);
}

int podpeer_lookup(const char *proc_root, pid_t pid, const char *pod_ip, int *ifindex)
{
	int peer = 0;
	int rc = netns_run(proc_root, pid, find_peer_fn, (void *)pod_ip, &peer, sizeof(peer));

	if (rc < 0)
		return rc;
	if (rc != sizeof(peer) || peer <= 0)
		return -ENOENT;
	*ifindex = peer;
	return 0;
}
