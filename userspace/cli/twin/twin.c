/* The twin: a user + network + mount namespace that carries the pod's identity locally. */
#include "twin.h"
#include "mkpath.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/route.h>
#include <linux/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TWIN_TUN "bm0"

/* The child reports a failed step as "errno:text" on the control socket. */
static void child_fail(int ctl, int err, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n = snprintf(buf, sizeof(buf), "%d:", err);

	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	if (write(ctl, buf, strlen(buf)) < 0)
		_exit(127);
	_exit(127);
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		err = -errno;
	close(fd);
	return err;
}

static int map_ids(uid_t uid, gid_t gid)
{
	char buf[64];
	int err;

	snprintf(buf, sizeof(buf), "%u %u 1\n", uid, uid);
	err = write_file("/proc/self/uid_map", buf);
	if (err)
		return err;
	err = write_file("/proc/self/setgroups", "deny");
	if (err && err != -ENOENT)
		return err;
	snprintf(buf, sizeof(buf), "%u %u 1\n", gid, gid);
	return write_file("/proc/self/gid_map", buf);
}

static int if_up(int sock, const char *name, unsigned mtu)
{
	struct ifreq ifr = {0};

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (mtu) {
		ifr.ifr_mtu = (int)mtu;
		if (ioctl(sock, SIOCSIFMTU, &ifr) < 0)
			return -errno;
	}
	if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0)
		return -errno;
	return 0;
}

int twin_add_addr32(int sock, const char *label, struct in_addr ip)
{
	struct ifreq ifr = {0};
	struct sockaddr_in *a = (struct sockaddr_in *)&ifr.ifr_addr;

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", label);
	a->sin_family = AF_INET;
	a->sin_addr = ip;
	if (ioctl(sock, SIOCSIFADDR, &ifr) < 0)
		return -errno;
	a->sin_addr.s_addr = htonl(0xffffffffu);
	return ioctl(sock, SIOCSIFNETMASK, &ifr) < 0 ? -errno : 0;
}

/*
 * A local endpoint: its cluster address is made local in the twin (an
 * address on lo), and a listener there is handed to bpfmirror, which relays
 * each connection to the developer's machine.
 */
static int listen_local(int sock, const struct twin_local *l, size_t idx, int *out)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(l->port)};
	char label[IFNAMSIZ];
	int fd, err;

	snprintf(label, sizeof(label), "lo:%u", (unsigned)(idx % TWIN_MAX_LOCAL) + 1);
	if (inet_pton(AF_INET, l->ip, &sin.sin_addr) != 1)
		return -EINVAL;
	/* Several endpoints may share an address: EEXIST is fine. */
	err = twin_add_addr32(sock, label, sin.sin_addr);
	if (err && err != -EEXIST)
		return err;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 64) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	*out = fd;
	return 0;
}

static int setup_net(const struct twin_opts *o, int *tun_out, int *locals_out)
{
	struct ifreq ifr = {0};
	struct in_addr ip;
	struct rtentry rt = {0};
	char range[32];
	int tun, sock = -1, err = 0;

	/* BPFMIRROR_TUN names another tun device node (tests, unusual /dev). */
	tun = open(getenv("BPFMIRROR_TUN") ? getenv("BPFMIRROR_TUN") : "/dev/net/tun",
		   O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (tun < 0)
		return -errno;
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, IFNAMSIZ, TWIN_TUN);
	if (ioctl(tun, TUNSETIFF, &ifr) < 0) {
		err = -errno;
		goto fail;
	}
	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0) {
		err = -errno;
		goto fail;
	}
	if (inet_pton(AF_INET, o->pod_ip, &ip) != 1) {
		err = -EINVAL;
		goto fail;
	}
	err = twin_add_addr32(sock, TWIN_TUN, ip);
	if (err)
		goto fail;
	/* Other replicas' addresses: mirrored packets to them are local too. */
	for (size_t i = 0; o->extra_ips && o->extra_ips[i]; i++) {
		char label[IFNAMSIZ];
		snprintf(label, sizeof(label), TWIN_TUN ":%u", (unsigned)(i % 1000) + 1);
		if (inet_pton(AF_INET, o->extra_ips[i], &ip) != 1) {
			err = -EINVAL;
			goto fail;
		}
		err = twin_add_addr32(sock, label, ip);
		if (err)
			goto fail;
	}
	err = if_up(sock, TWIN_TUN, o->mtu ? o->mtu : 1500);
	if (!err)
		err = if_up(sock, "lo", 0);
	if (err)
		goto fail;
	/* Everything but loopback leaves through the tun, to the cluster. */
	((struct sockaddr_in *)&rt.rt_dst)->sin_family = AF_INET;
	((struct sockaddr_in *)&rt.rt_genmask)->sin_family = AF_INET;
	((struct sockaddr_in *)&rt.rt_gateway)->sin_family = AF_INET;
	rt.rt_flags = RTF_UP;
	rt.rt_dev = (char *)TWIN_TUN;
	if (ioctl(sock, SIOCADDRT, &rt) < 0) {
		err = -errno;
		goto fail;
	}
	if (o->range_lo && o->range_hi) {
		snprintf(range, sizeof(range), "%u %u", o->range_lo, o->range_hi);
		err = write_file("/proc/sys/net/ipv4/ip_local_port_range", range);
		if (err)
			goto fail;
		/* Short-lived connections must not exhaust the small range. */
		write_file("/proc/sys/net/ipv4/tcp_tw_reuse", "1");
	}
	for (size_t i = 0; i < o->nlocals; i++) {
		err = listen_local(sock, &o->locals[i], i, &locals_out[i]);
		if (err)
			goto fail;
	}
	close(sock);
	*tun_out = tun;
	return 0;
fail:
	if (sock >= 0)
		close(sock);
	close(tun);
	return err;
}

/* Passes N fds (the tun, then the local endpoints' listeners) in one message. */
static int send_fds(int sock, const int *fds, size_t n)
{
	char byte = 'T';
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		char buf[CMSG_SPACE(sizeof(int) * (TWIN_MAX_LOCAL + 1))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = CMSG_SPACE(sizeof(int) * n)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * n);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -errno;
}

/* Receives up to MAX fds; a text message instead is the child's error. */
static int recv_fds(int sock, int *fds, size_t max, size_t *n, char *text, size_t textlen)
{
	char buf[512];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf) - 1};
	union {
		char buf[CMSG_SPACE(sizeof(int) * (TWIN_MAX_LOCAL + 1))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *c;
	ssize_t r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);

	if (r <= 0)
		return r == 0 ? -EPIPE : -errno;
	if (msg.msg_flags & MSG_CTRUNC) {
		/* Some fds were lost (fd limit): nothing usable arrived. */
		snprintf(text, textlen, "%d:too many open files to receive the twin's devices",
			 EMFILE);
		return -EIO;
	}
	c = CMSG_FIRSTHDR(&msg);
	if (c && c->cmsg_type == SCM_RIGHTS) {
		*n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (*n > max)
			*n = max;
		memcpy(fds, CMSG_DATA(c), sizeof(int) * *n);
		return 0;
	}
	buf[r] = '\0';
	snprintf(text, textlen, "%s", buf);
	return -EIO;
}

/* Binds the host's top-level entries into the (tmpfs) new root. */
static int populate_root(const char *newroot)
{
	char path[4096], link[4096];
	struct dirent *de;
	DIR *d = opendir("/");

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		struct stat st;
		ssize_t n;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "/%s", de->d_name);
		if (lstat(path, &st) < 0)
			continue;
		snprintf(link, sizeof(link), "%s/%s", newroot, de->d_name);
		if (S_ISLNK(st.st_mode)) {
			char target[4096];
			n = readlink(path, target, sizeof(target) - 1);
			if (n < 0)
				continue;
			target[n] = '\0';
			if (symlink(target, link) < 0)
				goto fail;
		} else if (S_ISDIR(st.st_mode)) {
			if (mkdir(link, 0755) < 0 ||
			    mount(path, link, NULL, MS_BIND | MS_REC, NULL) < 0)
				goto fail;
		} else {
			int fd = open(link, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
			if (fd < 0)
				goto fail;
			close(fd);
			if (mount(path, link, NULL, MS_BIND, NULL) < 0)
				goto fail;
		}
	}
	closedir(d);
	return 0;
fail:
	closedir(d);
	return -errno;
}

static bool is_rw(const struct twin_opts *o, const char *path)
{
	for (size_t i = 0; o->rw_paths && o->rw_paths[i]; i++)
		if (strcmp(o->rw_paths[i], path) == 0)
			return true;
	return false;
}

/*
 * Binds each staged container path over the same path in the new root, as a
 * volume mount hides what the image has there. A path whose top-level
 * directory the host lacks (/app) is created inside the tmpfs root; a path
 * missing inside an existing host directory cannot be created and is skipped.
 */
static int overlay_files(const struct twin_opts *o)
{
	char src[4096], dst[4096], top[4096];

	for (size_t i = 0; o->file_paths && o->file_paths[i]; i++) {
		const char *path = o->file_paths[i];
		struct stat st, dst_st;
		const char *slash;
		int err;

		snprintf(src, sizeof(src), "%s%s", o->files_root, path);
		snprintf(dst, sizeof(dst), "%s%s", o->newroot, path);
		if (path[0] != '/' || lstat(src, &st) < 0)
			continue;
		if (lstat(dst, &dst_st) < 0) {
			slash = strchr(path + 1, '/');
			snprintf(top, sizeof(top), "%.*s",
				 slash ? (int)(slash - path) : (int)strlen(path), path);
			if (lstat(top, &dst_st) == 0)
				continue; /* inside a host directory: cannot create */
			/* The parents inside the twin's tmpfs root (never on the host). */
			err = mkpath(dst, false);
			if (err)
				return err;
			if (S_ISDIR(st.st_mode)
				? mkdir(dst, 0755) < 0
				: close(open(dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0644)) < 0)
				return -errno;
		} else if (S_ISDIR(st.st_mode) != S_ISDIR(dst_st.st_mode)) {
			continue;
		}
		if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
			return -errno;
		if (!is_rw(o, path) &&
		    mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
			return -errno;
	}
	return 0;
}

static int setup_fs(const struct twin_opts *o)
{
	char cwd[4096], dst[4096];
	int err;

	if (!getcwd(cwd, sizeof(cwd)))
		strcpy(cwd, "/");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -errno;
	if (mount("tmpfs", o->newroot, "tmpfs", 0, "mode=0755") < 0)
		return -errno;
	err = populate_root(o->newroot);
	if (!err && o->files_root)
		err = overlay_files(o);
	if (err)
		return err;
	if (o->resolv_path) {
		snprintf(dst, sizeof(dst), "%s/etc/resolv.conf", o->newroot);
		if (mount(o->resolv_path, dst, NULL, MS_BIND, NULL) < 0)
			return -errno;
	}
	if (chdir(o->newroot) < 0 || chroot(".") < 0)
		return -errno;
	if (chdir(o->cwd ? o->cwd : cwd) < 0 && chdir("/") < 0)
		return -errno;
	return 0;
}

static void child_main(const struct twin_opts *o, int ctl, uid_t uid, gid_t gid)
{
	int fds[TWIN_MAX_LOCAL + 1];
	char go;
	int tun = -1, err;

	/* Die with bpfmirror: the twin must never outlive its session. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* Stay in the terminal's process group: an interactive shell reads it. */
	if (unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWUTS) < 0)
		child_fail(ctl, errno,
			   "cannot create the twin's namespaces (user namespaces disabled?)");
	err = map_ids(uid, gid);
	if (err)
		child_fail(ctl, -err, "cannot map the user into the twin's user namespace");
	/* A pod's hostname is its name; apps log and report it. */
	if (o->hostname && sethostname(o->hostname, strlen(o->hostname)) < 0)
		child_fail(ctl, errno, "cannot set the twin's hostname");
	err = setup_net(o, &tun, fds + 1);
	if (err)
		child_fail(ctl, -err,
			   "cannot set up the twin's network (tun device: /dev/net/tun must be "
			   "readable and writable by you)");
	err = setup_fs(o);
	if (err)
		child_fail(ctl, -err, "cannot set up the twin's files and resolv.conf");
	fds[0] = tun;
	err = send_fds(ctl, fds, o->nlocals + 1);
	for (size_t i = 0; i <= o->nlocals; i++)
		close(fds[i]);
	if (err)
		_exit(127);
	if (read(ctl, &go, 1) != 1)
		_exit(0); /* bpfmirror went away before the start */
	execvpe(o->argv[0], o->argv, o->env);
	child_fail(ctl, errno, "cannot run '%s'", o->argv[0]);
}

int twin_start(const struct twin_opts *opts, struct twin *tw, char *err, size_t errlen)
{
	char text[512] = "";
	int sv[2], rc;
	uid_t uid = getuid();
	gid_t gid = getgid();
	pid_t pid;

	tw->pid = -1;
	tw->tun_fd = -1;
	tw->ctl_fd = -1;
	tw->nlocal = 0;
	if (opts->nlocals > TWIN_MAX_LOCAL)
		return -E2BIG;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		close(sv[0]);
		close(sv[1]);
		return rc;
	}
	if (pid == 0) {
		close(sv[0]);
		child_main(opts, sv[1], uid, gid);
		_exit(127);
	}
	close(sv[1]);
	tw->pid = pid;
	tw->ctl_fd = sv[0];
	{
		int fds[TWIN_MAX_LOCAL + 1];
		size_t n = 0;
		rc = recv_fds(sv[0], fds, TWIN_MAX_LOCAL + 1, &n, text, sizeof(text));
		if (!rc && n == 0) {
			snprintf(text, sizeof(text), "%d:the twin's devices did not arrive",
				 EPROTO);
			rc = -EIO;
		}
		if (!rc) {
			tw->tun_fd = fds[0];
			tw->nlocal = n - 1;
			memcpy(tw->local_fds, fds + 1, sizeof(int) * tw->nlocal);
			for (size_t i = 0; i < tw->nlocal; i++)
				tw->local_ports[i] = opts->locals[i].local_port;
		}
	}
	if (rc) {
		int e = 0;
		char *colon = strchr(text, ':');
		if (colon) {
			e = atoi(text);
			snprintf(err, errlen, "%s: %s", colon + 1, strerror(e));
		} else {
			snprintf(err, errlen, "the twin exited while starting");
		}
		/* Closing the socket first: a child still waiting for "go" ends. */
		close(sv[0]);
		tw->ctl_fd = -1;
		waitpid(pid, NULL, 0);
		tw->pid = -1;
		return e ? -e : -ECHILD;
	}
	return 0;
}

int twin_go(struct twin *tw, char *err, size_t errlen)
{
	char text[512];
	ssize_t n;

	if (write(tw->ctl_fd, "g", 1) != 1)
		return -errno;
	/* The socket is close-on-exec: EOF means the command started. */
	n = read(tw->ctl_fd, text, sizeof(text) - 1);
	if (n > 0) {
		char *colon;
		text[n] = '\0';
		colon = strchr(text, ':');
		snprintf(err, errlen, "%s: %s", colon ? colon + 1 : text, strerror(atoi(text)));
		return -(atoi(text) ? atoi(text) : ENOEXEC);
	}
	return 0;
}

void twin_signal(const struct twin *tw, int sig)
{
	if (tw->pid > 0) {
		kill(tw->pid, sig);
	}
}

void twin_close(struct twin *tw)
{
	if (tw->tun_fd >= 0)
		close(tw->tun_fd);
	if (tw->ctl_fd >= 0)
		close(tw->ctl_fd);
	for (size_t i = 0; i < tw->nlocal; i++)
		close(tw->local_fds[i]);
	tw->nlocal = 0;
	tw->tun_fd = -1;
	tw->ctl_fd = -1;
}
