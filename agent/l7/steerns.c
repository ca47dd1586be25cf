/* The agent's private steer namespace: veth pair, addresses, policy rule and routes by rtnetlink.
 */
#include "steerns.h"
#include "bpfmirror_abi.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fib_rules.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

struct nlreq {
	struct nlmsghdr nh;
	char body[1024];
} __attribute__((aligned(4)));

static void *nl_tail(struct nlmsghdr *nh)
{
	return (char *)nh + NLMSG_ALIGN(nh->nlmsg_len);
}

static struct rtattr *nl_attr(struct nlmsghdr *nh, unsigned short type, const void *data,
			      size_t len)
{
	struct rtattr *rta = nl_tail(nh);

	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(rta), data, len);
	nh->nlmsg_len = NLMSG_ALIGN(nh->nlmsg_len) + RTA_ALIGN(rta->rta_len);
	return rta;
}

static void nl_nest_end(struct nlmsghdr *nh, struct rtattr *nest)
{
	nest->rta_len = (unsigned short)((char *)nl_tail(nh) - (char *)nest);
}

static void nl_init(struct nlreq *r, unsigned short type, unsigned short flags, size_t hdrlen)
{
	memset(r, 0, sizeof(*r));
	r->nh.nlmsg_len = (unsigned)NLMSG_LENGTH(hdrlen);
	r->nh.nlmsg_type = type;
	r->nh.nlmsg_flags = (unsigned short)(NLM_F_REQUEST | NLM_F_ACK | flags);
}

/* Sends one request on a fresh socket of the calling thread's namespace; waits for the ack. */
static int nl_talk(struct nlreq *r)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	struct timeval tv = {.tv_sec = 2};
	char buf[4096] __attribute__((aligned(4)));
	struct nlmsghdr *nh;
	ssize_t n;
	int fd, err = -EPROTO;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (sendto(fd, r, r->nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		goto out;
	}
	n = recv(fd, buf, sizeof(buf), 0);
	if (n < 0) {
		err = -errno;
		goto out;
	}
	for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n); nh = NLMSG_NEXT(nh, n)) {
		if (nh->nlmsg_type == NLMSG_ERROR) {
			err = ((struct nlmsgerr *)NLMSG_DATA(nh))->error;
			break;
		}
	}
out:
	close(fd);
	return err;
}

/* Creates the veth pair in the current namespace, moving the peer into peer_ns_fd. */
static int veth_create(const char *name, const char *peer, int peer_ns_fd, const uint8_t mac[6])
{
	struct nlreq r;
	struct ifinfomsg *ifi = NLMSG_DATA(&r.nh), *pifi;
	struct rtattr *linkinfo, *data, *peerinfo;
	uint32_t nsfd = (uint32_t)peer_ns_fd;

	nl_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	nl_attr(&r.nh, IFLA_IFNAME, name, strlen(name) + 1);
	nl_attr(&r.nh, IFLA_ADDRESS, mac, 6);
	linkinfo = nl_attr(&r.nh, IFLA_LINKINFO, NULL, 0);
	nl_attr(&r.nh, IFLA_INFO_KIND, "veth", 4);
	data = nl_attr(&r.nh, IFLA_INFO_DATA, NULL, 0);
	peerinfo = nl_attr(&r.nh, VETH_INFO_PEER, NULL, 0);
	pifi = nl_tail(&r.nh);
	memset(pifi, 0, sizeof(*pifi));
	r.nh.nlmsg_len += (unsigned)NLMSG_ALIGN(sizeof(*pifi));
	nl_attr(&r.nh, IFLA_IFNAME, peer, strlen(peer) + 1);
	nl_attr(&r.nh, IFLA_NET_NS_FD, &nsfd, sizeof(nsfd));
	nl_nest_end(&r.nh, peerinfo);
	nl_nest_end(&r.nh, data);
	nl_nest_end(&r.nh, linkinfo);
	return nl_talk(&r);
}

static int link_up(int ifindex)
{
	struct nlreq r;
	struct ifinfomsg *ifi = NLMSG_DATA(&r.nh);

	nl_init(&r, RTM_NEWLINK, 0, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	return nl_talk(&r);
}

static int addr_add(int ifindex, const char *addr, unsigned prefix)
{
	struct nlreq r;
	struct ifaddrmsg *ifa = NLMSG_DATA(&r.nh);
	struct in_addr in;

	if (inet_pton(AF_INET, addr, &in) != 1)
		return -EINVAL;
	nl_init(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (unsigned char)prefix;
	ifa->ifa_index = (unsigned)ifindex;
	nl_attr(&r.nh, IFA_LOCAL, &in, 4);
	nl_attr(&r.nh, IFA_ADDRESS, &in, 4);
	return nl_talk(&r);
}

/* Default route via gw (table main), or "local 0.0.0.0/0 dev oif table t" when gw is NULL. */
static int route_add(unsigned table, const char *gw, int oif)
{
	struct nlreq r;
	struct rtmsg *rt = NLMSG_DATA(&r.nh);
	struct in_addr in;
	uint32_t t = table, o = (uint32_t)oif;

	nl_init(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, sizeof(*rt));
	rt->rtm_family = AF_INET;
	rt->rtm_table = RT_TABLE_UNSPEC;
	rt->rtm_protocol = RTPROT_STATIC;
	rt->rtm_scope = gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_HOST;
	rt->rtm_type = gw ? RTN_UNICAST : RTN_LOCAL;
	nl_attr(&r.nh, RTA_TABLE, &t, sizeof(t));
	if (gw) {
		if (inet_pton(AF_INET, gw, &in) != 1)
			return -EINVAL;
		nl_attr(&r.nh, RTA_GATEWAY, &in, 4);
	}
	nl_attr(&r.nh, RTA_OIF, &o, sizeof(o));
	return nl_talk(&r);
}

/* "ip rule add iif dev lookup table pref 100". */
static int rule_add_iif(const char *dev, unsigned table)
{
	struct nlreq r;
	struct fib_rule_hdr *fr = NLMSG_DATA(&r.nh);
	uint32_t t = table, prio = 100;

	nl_init(&r, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, sizeof(*fr));
	fr->family = AF_INET;
	fr->action = FR_ACT_TO_TBL;
	fr->table = RT_TABLE_UNSPEC;
	nl_attr(&r.nh, FRA_IIFNAME, dev, strlen(dev) + 1);
	nl_attr(&r.nh, FRA_TABLE, &t, sizeof(t));
	nl_attr(&r.nh, FRA_PRIORITY, &prio, sizeof(prio));
	return nl_talk(&r);
}

static int link_del(const char *name)
{
	struct nlreq r;
	struct ifinfomsg *ifi = NLMSG_DATA(&r.nh);

	nl_init(&r, RTM_DELLINK, 0, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	nl_attr(&r.nh, IFLA_IFNAME, name, strlen(name) + 1);
	return nl_talk(&r);
}

/* Writes a sysctl of the calling thread's namespace. */
static int sysctl_write(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, value, strlen(value)) < 0)
		err = -errno;
	close(fd);
	return err;
}

/* Inside the new namespace: lo, the veth pair (peer to the node), addresses, rule, routes. */
static int setup_inner(struct steerns *rn)
{
	static const uint8_t mac[6] = BM_ROUTER_MAC;
	int lo = (int)if_nametoindex("lo"), err;

	err = lo ? link_up(lo) : -ENODEV;
	if (!err)
		err = veth_create(STEERNS_INNER_DEV, STEERNS_NODE_DEV, rn->home_fd, mac);
	if (err)
		return err;
	rn->inner_ifindex = (int)if_nametoindex(STEERNS_INNER_DEV);
	if (!rn->inner_ifindex)
		return -ENODEV;
	/* Replies to clients leave by the default route whatever their source. */
	sysctl_write("/proc/sys/net/ipv4/conf/all/rp_filter", "0");
	sysctl_write("/proc/sys/net/ipv4/conf/" STEERNS_INNER_DEV "/rp_filter", "0");
	err = addr_add(rn->inner_ifindex, STEERNS_ADDR, 30);
	if (!err)
		err = link_up(rn->inner_ifindex);
	if (!err)
		err = route_add(RT_TABLE_MAIN, STEERNS_NODE_ADDR, rn->inner_ifindex);
	if (!err)
		err = route_add(STEERNS_TABLE, NULL, lo);
	if (!err)
		err = rule_add_iif(STEERNS_INNER_DEV, STEERNS_TABLE);
	return err;
}

/* In the node namespace: address and loose reverse-path filtering on bpfmr0 (see tun.h). */
static int setup_node(struct steerns *rn)
{
	int err;

	rn->node_ifindex = (int)if_nametoindex(STEERNS_NODE_DEV);
	if (!rn->node_ifindex)
		return -ENODEV;
	/* Replies carry the pod's address, whose route points at the pod's link. */
	err = sysctl_write("/proc/sys/net/ipv4/conf/" STEERNS_NODE_DEV "/rp_filter", "2");
	if (!err)
		err = addr_add(rn->node_ifindex, STEERNS_NODE_ADDR, 30);
	if (!err)
		err = link_up(rn->node_ifindex);
	return err;
}

int steerns_open(struct steerns *rn)
{
	int err;

	rn->ns_fd = -1;
	rn->node_ifindex = rn->inner_ifindex = 0;
	rn->home_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (rn->home_fd < 0)
		return -errno;
	/* A stale pair can only exist if its namespace is still held by someone. */
	link_del(STEERNS_NODE_DEV);
	if (unshare(CLONE_NEWNET) < 0) {
		err = -errno;
		goto fail;
	}
	rn->ns_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	err = rn->ns_fd < 0 ? -errno : setup_inner(rn);
	if (setns(rn->home_fd, CLONE_NEWNET) < 0 && !err)
		err = -errno;
	if (err)
		goto fail;
	err = setup_node(rn);
	if (err)
		goto fail;
	log_info("steer namespace ready (%s <-> %s, table %u)", STEERNS_NODE_DEV, STEERNS_INNER_DEV,
		 STEERNS_TABLE);
	return 0;
fail:
	log_error("cannot set up the steer namespace: %s", strerror(-err));
	steerns_close(rn);
	return err;
}

void steerns_close(struct steerns *rn)
{
	if (rn->ns_fd >= 0)
		close(rn->ns_fd);
	if (rn->home_fd >= 0)
		close(rn->home_fd);
	rn->ns_fd = rn->home_fd = -1;
	rn->node_ifindex = rn->inner_ifindex = 0;
}

int steerns_socket(struct steerns *rn, int domain, int type, int proto)
{
	int fd, err = 0;

	if (setns(rn->ns_fd, CLONE_NEWNET) < 0)
		return -errno;
	fd = socket(domain, type | SOCK_CLOEXEC | SOCK_NONBLOCK, proto);
	if (fd < 0)
		err = -errno;
	if (setns(rn->home_fd, CLONE_NEWNET) < 0) {
		/* Never leave the agent in the wrong namespace. */
		log_error("cannot return to the node namespace: %s", strerror(errno));
		abort();
	}
	return fd < 0 ? err : fd;
}
