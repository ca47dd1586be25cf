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
 * brings it up and sets its IPv4 rp_filter to loose (2): injected packets
 * carry a pod's source address whose route points at the pod's link, so a
 * strict check would drop them, and the effective value is max(all, dev).
 * Forwarding (net.ipv4.ip_forward) must be on, as on every Kubernetes node.
 * Returns 0 or -errno.
 */
int tun_open(struct tun_dev *t, const char *name);
/* Closes the fd; the (non-persistent) device disappears with it. */
void tun_close(struct tun_dev *t);
/* Writes one IP packet; returns 0 or -errno. */
int tun_write(struct tun_dev *t, const void *pkt, size_t len);
/* Reads one packet; returns its length, -EAGAIN when none is waiting, or -errno. */
int tun_read(struct tun_dev *t, void *buf, size_t cap);

#endif
