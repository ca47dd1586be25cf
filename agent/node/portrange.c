/* Picks the reserved port range of a twin session on a pod: clear of the pod's ports. */
#include "portrange.h"
#include "readfile.h"
#include "netns_run.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void port_set_add_range(struct port_set *s, struct port_range r)
{
	for (unsigned p = r.lo; p <= r.hi; p++)
		port_set_add(s, (uint16_t)p);
}

int port_range_pick(const struct port_set *used, unsigned size, struct port_range *out)
{
	if (size < 16 || size > 16384 || (size & (size - 1)))
		return -EINVAL;
	for (long base = 65536 - (long)size; base >= 1024; base -= size) {
		unsigned p;
		for (p = 0; p < size; p++)
			if (port_set_has(used, (uint16_t)(base + p)))
				break;
		if (p == size) {
			out->lo = (uint16_t)base;
			out->hi = (uint16_t)(base + size - 1);
			return 0;
		}
	}
	return -ENOSPC;
}

int port_set_parse_proc_net(struct port_set *s, const char *text)
{
	const char *line = strchr(text, '\n'); /* skip the header line */

	while (line && *++line) {
		unsigned slot, port;
		char addr[64];
		if (sscanf(line, " %u: %63[0-9A-Fa-f]:%x", &slot, addr, &port) == 3 &&
		    port <= 65535)
			port_set_add(s, (uint16_t)port);
		line = strchr(line, '\n');
	}
	return 0;
}

static int read_port_range_fn(void *ctx, void *out, size_t outlen)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "re");
	int n = 0;

	(void)ctx;
	if (!f)
		return -errno;
	if (fgets(out, (int)outlen, f))
		n = (int)strlen(out);
	fclose(f);
	return n ? n : -EIO;
}

/* Reads ip_local_port_range of PID's network namespace. */
static int pod_ephemeral_range(const char *proc_root, pid_t pid, struct port_range *r)
{
	char buf[64] = {0};
	unsigned lo, hi;
	int n = netns_run(proc_root, pid, read_port_range_fn, NULL, buf, sizeof(buf) - 1);

	if (n < 0)
		return n;
	buf[n] = '\0';
	if (sscanf(buf, "%u %u", &lo, &hi) != 2 || lo > hi || hi > 65535)
		return -EIO;
	r->lo = (uint16_t)lo;
	r->hi = (uint16_t)hi;
	return 0;
}

int port_set_add_pod(struct port_set *s, const char *proc_root, pid_t pid)
{
	static const char *const tables[] = {"tcp", "tcp6", "udp", "udp6"};
	struct port_range eph = {0, 0};
	char path[PATH_MAX];
	int err;

	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		char *buf = NULL;
		size_t len = 0;
		snprintf(path, sizeof(path), "%s/%d/net/%s", proc_root, (int)pid, tables[i]);
		err = readfile_at(AT_FDCWD, path, 16u << 20, 0, &buf, &len);
		if (err == -ENOENT)
			continue;
		if (err)
			return err;
		port_set_parse_proc_net(s, buf);
		free(buf);
	}
	err = pod_ephemeral_range(proc_root, pid, &eph);
	if (err) {
		/* Without the pod's range, assume the kernel default. */
		eph.lo = 32768;
		eph.hi = 60999;
	}
	port_set_add_range(s, eph);
	return 0;
}
