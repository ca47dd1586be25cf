/* The twin: a user + network + mount namespace that carries the pod's identity locally. */
#ifndef BPFMIRROR_TWIN_H
#define BPFMIRROR_TWIN_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TWIN_MAX_LOCAL 16

/* An outgoing.local endpoint: connections from the twin to IP:PORT are
 * relayed to the developer's machine instead of the cluster. */
struct twin_local {
	char ip[16];
	uint16_t port;
	uint16_t local_port; /* on the developer's loopback */
};

struct twin_opts {
	const char *pod_ip;	/* IPv4 address the tun carries (/32); source of outgoing */
	char *const *extra_ips; /* other replicas' IPv4 addresses (NULL-terminated) or NULL */
	uint16_t range_lo;	/* ip_local_port_range of the twin */
	uint16_t range_hi;
	unsigned mtu;			 /* tun MTU; 0 = 1500 */
	const char *resolv_path;	 /* file bind-mounted on /etc/resolv.conf, or NULL */
	const char *files_root;		 /* staged tree: container path P is at files_root + P */
	char *const *file_paths;	 /* the staged container paths (NULL-terminated) */
	char *const *rw_paths;		 /* those of them left writable; the rest are read-only */
	const char *newroot;		 /* empty directory to build the twin's root in */
	char *const *env;		 /* environment of the command (NULL-terminated) */
	char *const *argv;		 /* the command (NULL-terminated) */
	const char *hostname;		 /* the pod's name, set in a UTS namespace; NULL = keep */
	const struct twin_local *locals; /* outgoing.local endpoints */
	size_t nlocals;
	const char *cwd; /* working directory inside the twin; NULL = current */
};

struct twin {
	pid_t pid;  /* the command */
	int tun_fd; /* the twin's tun device, non-blocking, owned by the caller */
	int ctl_fd; /* releases the command (twin_go) and reports exec errors */
	int local_fds[TWIN_MAX_LOCAL];	      /* listeners of the locals, in order */
	uint16_t local_ports[TWIN_MAX_LOCAL]; /* where each one is relayed to */
	size_t nlocal;
};

/*
 * Forks the twin: the child unshares user, network and mount namespaces, sets
 * up the tun with the pod's address, the default route through it, the port
 * range, resolv.conf and files, hands the tun fd back and waits for twin_go().
 * Returns 0, or -errno with a sentence for the user in err.
 */
int twin_start(const struct twin_opts *opts, struct twin *tw, char *err, size_t errlen);

/* Lets the command run; returns 0, or -errno when exec failed (err says why). */
int twin_go(struct twin *tw, char *err, size_t errlen);

/*
 * Gives interface LABEL (a name, or an alias such as "lo:1") the IPv4
 * address IP as a /32, through SOCK (an AF_INET datagram socket of the
 * namespace). Returns 0 or -errno.
 */
int twin_add_addr32(int sock, const char *label, struct in_addr ip);

/* Sends SIG to the command. */
void twin_signal(const struct twin *tw, int sig);

/* Closes the tun and control fds (the namespaces die with their processes). */
void twin_close(struct twin *tw);

#endif
