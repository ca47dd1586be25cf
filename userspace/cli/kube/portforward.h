/* Reaches a pod's port through a `kubectl port-forward` child process (agent.connect:
 * port-forward). */
#ifndef BPFMIRROR_PORTFORWARD_H
#define BPFMIRROR_PORTFORWARD_H

#include "kubeconfig.h"

#include <stddef.h>
#include <stdint.h>

/* How long kubectl may take to print its "Forwarding from" line. */
#define PORTFORWARD_TIMEOUT_MS 30000
/* Environment variable naming the kubectl binary to run (else `kubectl` on PATH). */
#define PORTFORWARD_KUBECTL_ENV "BPFMIRROR_KUBECTL"

struct portforward_opts {
	const char *kubeconfig; /* NULL: kubectl's own default ($KUBECONFIG, ~/.kube/config) */
	const char *context;	/* NULL: the current context */
	const char *namespace;
	const char *pod;
	uint16_t port;
	int timeout_ms; /* 0: PORTFORWARD_TIMEOUT_MS */
};

struct portforward;

/* What one line of kubectl's output says. */
enum portforward_line {
	PF_LINE_OTHER = 0,
	PF_LINE_FORWARDING,   /* "Forwarding from 127.0.0.1:N -> P": N is the local port */
	PF_LINE_FORBIDDEN,    /* RBAC denied pods/portforward (or the pod get) */
	PF_LINE_NOT_FOUND,    /* the pod does not exist */
	PF_LINE_NOT_RUNNING,  /* the pod exists but is not Running */
	PF_LINE_UNAUTHORIZED, /* the cluster rejected kubectl's credentials */
	PF_LINE_ERROR,	      /* any other "error: ..." */
};

/*
 * Classifies one line of kubectl port-forward's output (without its newline);
 * sets *LOCAL_PORT for PF_LINE_FORWARDING. Pure: exposed for the unit tests.
 */
enum portforward_line portforward_classify(const char *line, uint16_t *local_port);

/*
 * The kubectl to run: $BPFMIRROR_KUBECTL (a path, or a name looked up on
 * PATH), else `kubectl` on PATH. 0 with the path in BUF, -ENOENT or -EACCES
 * with ERR (and a hint on installing kubectl) filled.
 */
int portforward_find_kubectl(char *buf, size_t len, struct kube_err *err);

/*
 * Runs `kubectl port-forward --address 127.0.0.1 -n NS pod/POD :PORT` in its
 * own process group (killed with us: PR_SET_PDEATHSIG) and waits until it
 * forwards. NULL with errno set and ERR filled: -ENOENT kubectl missing or the
 * pod gone, -EACCES RBAC forbids pods/portforward (or kubectl's credentials
 * are refused), -EAGAIN the pod is not running, -ETIMEDOUT no "Forwarding
 * from" line in time, -EIO anything else. O's strings are copied.
 *
 * Then a thread logs what kubectl prints (warnings; "Handling connection"
 * lines at debug level) and, when kubectl ends while PF lives (the API server
 * restarted, an error on a forwarded connection), runs it again on the same
 * local port, with backoff from 0.5 to 10 s: the address stays valid for the
 * session's reconnects.
 */
struct portforward *portforward_start(const struct portforward_opts *o, struct kube_err *err);

/* "127.0.0.1:N": where to connect to reach the pod's port. */
const char *portforward_address(const struct portforward *pf);

/* Stops kubectl (SIGTERM to its process group, SIGKILL after 2 s), frees PF. NULL is fine. */
void portforward_stop(struct portforward *pf);

#endif
