/* The agent's tun device in the node namespace: injects IP packets, optionally receives handoffs.
 */
#ifndef BPFMIRROR_TUN_H
#define BPFMIRROR_TUN_H

#include <net/if.h>
#include <stddef.h>

struct tun_dev {
	int fd;
	int ifindex;
	char name[IFNAMSIZ];
};

/*
 * Creates (or opens) tun device name (IFF_TUN | IFF_NO_PI, non-blocking),
 * gives it the IPv4 address addr/32 (may be NULL) and brings it up.
 * Reverse-path filtering: injected packets carry a pod's source address whose
 * route points at the pod's link, so strict mode (1) drops them; the device's
 * rp_filter is set to loose (2), and the effective value is max(all, dev),
 * so this works whatever net.ipv4.conf.all.rp_filter is. Loose mode still
 * drops everything arriving on a device without an IPv4 address, hence the
 * address (a link-local one by default; it only adds a local route).
 * Forwarding (net.ipv4.ip_forward) must be on, as on every Kubernetes node.
 * Returns 0 or -errno.
 */
int tun_open(struct tun_dev *t, const char *name, const char *addr);
/* Closes the fd; the (non-persistent) device disappears with it. */
void tun_close(struct tun_dev *t);
/* Writes one IP packet; returns 0 or -errno. */
int tun_write(struct tun_dev *t, const void *pkt, size_t len);
/* Reads one packet; returns its length, -EAGAIN when none is waiting, or -errno. */
int tun_read(struct tun_dev *t, void *buf, size_t cap);

#endif
