/* The agent's tun device in the node namespace: injects IP packets, optionally receives handoffs.
 */
#include "tun.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int write_sysctl(const char *path, const char *val)
{
	int fd, err = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		err = -errno;
	close(fd);
	return err;
}

static int set_addr(int s, const char *name, const char *addr)
{
	struct sockaddr_in *sin;
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	sin = (struct sockaddr_in *)&ifr.ifr_addr;
	sin->sin_family = AF_INET;
	if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1)
		return -EINVAL;
	if (ioctl(s, SIOCSIFADDR, &ifr) < 0)
		return -errno;
	inet_pton(AF_INET, "255.255.255.255", &sin->sin_addr);
	if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0)
		return -errno;
	return 0;
}

static int link_setup(const char *name, const char *addr)
{
	struct ifreq ifr;
	int s, err = 0;

	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	/* A longer queue absorbs bursts of handed-off packets (tun handoff mode). */
	ifr.ifr_qlen = 4096;
	if (ioctl(s, SIOCSIFTXQLEN, &ifr) < 0)
		log_debug("tun: %s: txqueuelen: %s", name, strerror(errno));
	if (addr) {
		err = set_addr(s, name, addr);
		if (err)
			goto out;
	}
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
		err = -errno;
		goto out;
	}
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		err = -errno;
out:
	close(s);
	return err;
}

int tun_open(struct tun_dev *t, const char *name, const char *addr)
{
	char path[128];
	struct ifreq ifr;
	int err;

	memset(t, 0, sizeof(*t));
	t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (t->fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
		err = -errno;
		goto err_close;
	}
	snprintf(t->name, sizeof(t->name), "%s", ifr.ifr_name);
	t->ifindex = (int)if_nametoindex(t->name);
	if (!t->ifindex) {
		err = -errno;
		goto err_close;
	}
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/rp_filter", t->name);
	err = write_sysctl(path, "2");
	if (err)
		log_warn("tun: %s: cannot set rp_filter: %s", t->name, strerror(-err));
	err = link_setup(t->name, addr);
	if (err)
		goto err_close;
	return 0;
err_close:
	close(t->fd);
	t->fd = -1;
	return err;
}

void tun_close(struct tun_dev *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	t->ifindex = 0;
}

int tun_write(struct tun_dev *t, const void *pkt, size_t len)
{
	ssize_t n = write(t->fd, pkt, len);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

int tun_read(struct tun_dev *t, void *buf, size_t cap)
{
	ssize_t n = read(t->fd, buf, cap);

	if (n < 0)
		return -errno;
	return (int)n;
}
