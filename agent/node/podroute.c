/* Finds a pod's host-side interface (and this node's source address toward it) by route lookup. */
#include "podroute.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

struct route_req {
	struct nlmsghdr nh;
	struct rtmsg rt;
	char attrs[64];
};

static void add_attr(struct nlmsghdr *nh, unsigned short type, const void *data, size_t len)
{
	struct rtattr *rta = (struct rtattr *)((char *)nh + NLMSG_ALIGN(nh->nlmsg_len));

	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	nh->nlmsg_len = NLMSG_ALIGN(nh->nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

/* Parses an RTM_NEWROUTE answer. */
static int parse_route(struct nlmsghdr *nh, size_t n, int family, int *ifindex,
		       struct datapath_ip *node_src)
{
	struct rtmsg *rt;
	struct rtattr *rta;
	int len, oif = 0;

	for (; NLMSG_OK(nh, n); nh = NLMSG_NEXT(nh, n)) {
		if (nh->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(nh);

			return e->error ? e->error : -EPROTO;
		}
		if (nh->nlmsg_type != RTM_NEWROUTE)
			continue;
		rt = NLMSG_DATA(nh);
		if (rt->rtm_type == RTN_LOCAL || rt->rtm_type == RTN_BROADCAST)
			return -EADDRNOTAVAIL;
		if (rt->rtm_type == RTN_UNREACHABLE || rt->rtm_type == RTN_BLACKHOLE ||
		    rt->rtm_type == RTN_PROHIBIT)
			return -EHOSTUNREACH;
		len = (int)RTM_PAYLOAD(nh);
		for (rta = RTM_RTA(rt); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
			if (rta->rta_type == RTA_OIF)
				memcpy(&oif, RTA_DATA(rta), sizeof(oif));
			if (rta->rta_type == RTA_PREFSRC && node_src) {
				node_src->family = family;
				memcpy(&node_src->u, RTA_DATA(rta),
				       family == AF_INET ? 4 : sizeof(struct in6_addr));
			}
		}
		if (oif <= 0)
			return -EHOSTUNREACH;
		*ifindex = oif;
		return 0;
	}
	return -EPROTO;
}

int podroute_lookup(const struct datapath_ip *pod, int *ifindex, struct datapath_ip *node_src)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	struct timeval tv = {.tv_sec = 2};
	struct route_req req;
	char buf[4096] __attribute__((aligned(4)));
	ssize_t n;
	int fd, err;

	if (pod->family != AF_INET && pod->family != AF_INET6)
		return -EAFNOSUPPORT;
	if (node_src)
		memset(node_src, 0, sizeof(*node_src));
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
	req.nh.nlmsg_type = RTM_GETROUTE;
	req.nh.nlmsg_flags = NLM_F_REQUEST;
	req.nh.nlmsg_seq = 1;
	req.rt.rtm_family = (unsigned char)pod->family;
	req.rt.rtm_dst_len = pod->family == AF_INET ? 32 : 128;
	add_attr(&req.nh, RTA_DST, &pod->u, pod->family == AF_INET ? 4 : 16);

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		goto out;
	}
	n = recv(fd, buf, sizeof(buf), 0);
	if (n < 0) {
		err = -errno;
		goto out;
	}
	err = parse_route((struct nlmsghdr *)buf, (size_t)n, pod->family, ifindex, node_src);
out:
	close(fd);
	return err;
}
