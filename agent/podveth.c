/* Finds a pod's host-side veth from inside the pod: the peer of the link holding its IP. */
#include "podveth.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
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

	if (inet_pton(AF_INET, pod_ip, &want) != 1 || getifaddrs(&ifa) < 0)
		return -EINVAL;
	for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		    ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr == want.s_addr) {
			idx = (int)if_nametoindex(i->ifa_name);
			break;
		}
	}
	freeifaddrs(ifa);
	return idx ? link_peer(idx) : -ENOENT;
}

int podveth_lookup(const char *proc_root, pid_t pid, const char *pod_ip, int *ifindex)
{
	char path[PATH_MAX];
	int pfd[2], nsfd, status, result = -EIO;
	pid_t child;

	snprintf(path, sizeof(path), "%s/%d/ns/net", proc_root, (int)pid);
	nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0)
		return -errno;
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		result = -errno;
		goto out_ns;
	}
	child = fork();
	if (child < 0) {
		result = -errno;
		goto out_pipe;
	}
	if (child == 0) {
		int r = setns(nsfd, CLONE_NEWNET) < 0 ? -errno : find_peer(pod_ip);
		_exit(write(pfd[1], &r, sizeof(r)) == sizeof(r) ? 0 : 1);
	}
	close(pfd[1]);
	pfd[1] = -1;
	if (read(pfd[0], &result, sizeof(result)) != sizeof(result))
		result = -EIO;
	waitpid(child, &status, 0);
	if (result > 0) {
		*ifindex = result;
		result = 0;
	} else if (result == 0) {
		result = -ENOENT; /* not a veth: no peer */
	}
out_pipe:
	close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
out_ns:
	close(nsfd);
	return result;
}
