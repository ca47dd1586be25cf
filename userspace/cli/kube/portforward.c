/* Reaches a pod's port through a `kubectl port-forward` child process (agent.connect:
 * port-forward). */
#include "portforward.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_LEN   1024
#define TAIL_LEN       400
#define STOP_GRACE_MS  2000
#define RESTART_MIN_MS 500
#define RESTART_MAX_MS 10000

struct portforward {
	pid_t pid;  /* also the process group id */
	int out_fd; /* kubectl's stdout + stderr */
	char address[32];
	char what[600];		      /* "NS/POD:PORT" for messages */
	struct portforward_opts opts; /* its strings are our copies */
	char kubectl[4096];
	char pod_arg[300];
	char port_arg[16];
	uint16_t local_port;
	pthread_t watch;
	bool have_watch;
	atomic_bool stop;
	char line[LINE_MAX_LEN];
	size_t line_len;
};

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static bool contains_ci(const char *s, const char *needle)
{
	size_t n = strlen(needle);

	for (; *s; s++)
		if (strncasecmp(s, needle, n) == 0)
			return true;
	return false;
}

enum portforward_line portforward_classify(const char *line, uint16_t *local_port)
{
	static const char fwd[] = "Forwarding from 127.0.0.1:";
	const char *p;

	if (strncmp(line, fwd, sizeof(fwd) - 1) == 0) {
		char *end;
		unsigned long v = strtoul(line + sizeof(fwd) - 1, &end, 10);
		if (v > 0 && v < 65536 && strncmp(end, " -> ", 4) == 0) {
			*local_port = (uint16_t)v;
			return PF_LINE_FORWARDING;
		}
		return PF_LINE_OTHER;
	}
	/* Only kubectl's own failure lines count, not text the pod side sent. */
	p = line;
	if (strncmp(p, "error: ", 7) == 0)
		p += 7;
	else if (strncmp(p, "Error from server", 17) != 0)
		return PF_LINE_OTHER;
	if (contains_ci(p, "forbidden"))
		return PF_LINE_FORBIDDEN;
	if (contains_ci(p, "Unauthorized") || contains_ci(p, "must be logged in"))
		return PF_LINE_UNAUTHORIZED;
	if (contains_ci(p, "not running"))
		return PF_LINE_NOT_RUNNING;
	if (contains_ci(p, "not found"))
		return PF_LINE_NOT_FOUND;
	return PF_LINE_ERROR;
}

static void install_hint(struct kube_err *err)
{
	kube_err_hint(err,
		      "install kubectl (https://kubernetes.io/docs/tasks/tools/) or set %s to its "
		      "path; or use --connect direct where the node is reachable",
		      PORTFORWARD_KUBECTL_ENV);
}

static int executable(const char *path)
{
	struct stat st;

	if (stat(path, &st) || !S_ISREG(st.st_mode))
		return -ENOENT;
	return access(path, X_OK) ? -EACCES : 0;
}

int portforward_find_kubectl(char *buf, size_t len, struct kube_err *err)
{
	const char *name = getenv(PORTFORWARD_KUBECTL_ENV);
	const char *path = getenv("PATH");
	bool from_env = name && name[0];
	int ret;

	if (!from_env)
		name = "kubectl";
	if (strchr(name, '/')) {
		ret = executable(name);
		if (ret == 0 && (size_t)snprintf(buf, len, "%s", name) < len)
			return 0;
		kube_err_set(err, "%s=%s: %s", PORTFORWARD_KUBECTL_ENV, name,
			     ret ? strerror(-ret) : "path too long");
		install_hint(err);
		return ret ? ret : -ENAMETOOLONG;
	}
	for (const char *d = path ? path : "/usr/local/bin:/usr/bin:/bin"; *d;) {
		size_t n = strcspn(d, ":");
		if (n && (size_t)snprintf(buf, len, "%.*s/%s", (int)n, d, name) < len &&
		    executable(buf) == 0)
			return 0;
		d += n;
		if (*d == ':')
			d++;
	}
	if (from_env)
		kube_err_set(err, "%s=%s: no such program on PATH", PORTFORWARD_KUBECTL_ENV, name);
	else
		kube_err_set(err,
			     "agent.connect is port-forward but kubectl is not installed "
			     "(no kubectl on PATH, %s not set)",
			     PORTFORWARD_KUBECTL_ENV);
	install_hint(err);
	return -ENOENT;
}

/* Child side: own process group, dies with us, output to the pipe, exec kubectl. */
static void run_child(const char *kubectl, char **argv, int out_fd, int status_fd, pid_t parent)
{
	int e;
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);

	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(127);
	if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
	    dup2(out_fd, STDERR_FILENO) < 0)
		goto fail;
	signal(SIGPIPE, SIG_DFL);
	execv(kubectl, argv);
fail:
	e = errno;
	if (write(status_fd, &e, sizeof(e)) < 0)
		_exit(126);
	_exit(127);
}

static int spawn(struct portforward *pf, const char *kubectl, char **argv, struct kube_err *err)
{
	int out[2] = {-1, -1}, status[2] = {-1, -1}, child_errno = 0, ret = 0;
	pid_t parent = getpid();
	ssize_t n;

	if (pipe2(out, O_CLOEXEC) || pipe2(status, O_CLOEXEC)) {
		ret = -errno;
		kube_err_set(err, "cannot create a pipe for kubectl: %s", strerror(errno));
		goto out;
	}
	pf->pid = fork();
	if (pf->pid < 0) {
		ret = -errno;
		kube_err_set(err, "cannot start kubectl: %s", strerror(errno));
		goto out;
	}
	if (pf->pid == 0)
		run_child(kubectl, argv, out[1], status[1], parent);
	/* Also from here, so a kill() right after fork hits the group. */
	setpgid(pf->pid, pf->pid);
	close(status[1]);
	status[1] = -1;
	do
		n = read(status[0], &child_errno, sizeof(child_errno));
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(child_errno)) {
		waitpid(pf->pid, NULL, 0);
		pf->pid = -1;
		ret = -child_errno;
		kube_err_set(err, "cannot run %s: %s", kubectl, strerror(child_errno));
		install_hint(err);
		goto out;
	}
	pf->out_fd = out[0];
	out[0] = -1;
out:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (status[i] >= 0)
			close(status[i]);
	}
	return ret;
}

/*
 * Reads what is available from kubectl into pf->line and calls FN for each
 * complete line. Returns 1 at EOF, 0 otherwise, stopping early when FN returns
 * nonzero (its value is kept in *STOPPED).
 */
static int read_lines(struct portforward *pf, int (*fn)(struct portforward *, const char *, void *),
		      void *arg, int *stopped)
{
	char buf[4096];
	ssize_t n = read(pf->out_fd, buf, sizeof(buf));

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : 1;
	if (n == 0)
		return 1;
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] != '\n') {
			if (pf->line_len < sizeof(pf->line) - 1)
				pf->line[pf->line_len++] = buf[i];
			continue;
		}
		pf->line[pf->line_len] = '\0';
		pf->line_len = 0;
		if (pf->line[0] && !*stopped)
			*stopped = fn(pf, pf->line, arg);
	}
	return 0;
}

struct wait_state {
	enum portforward_line verdict;
	uint16_t local_port;
	char first_error[LINE_MAX_LEN];
	char tail[TAIL_LEN]; /* the last lines, for an unexplained exit */
};

static int on_start_line(struct portforward *pf, const char *line, void *arg)
{
	struct wait_state *w = arg;
	enum portforward_line v = portforward_classify(line, &w->local_port);
	size_t tl = strlen(w->tail), ll = strlen(line);

	log_debug("kubectl port-forward %s: %s", pf->what, line);
	if (ll + 3 >= sizeof(w->tail))
		snprintf(w->tail, sizeof(w->tail), "%.*s", (int)sizeof(w->tail) - 1, line);
	else {
		if (tl + ll + 3 >= sizeof(w->tail)) {
			memmove(w->tail, w->tail + (tl + ll + 3 - sizeof(w->tail) + 1),
				sizeof(w->tail) - (ll + 3));
			tl = strlen(w->tail);
		}
		snprintf(w->tail + tl, sizeof(w->tail) - tl, "%s%s", tl ? " | " : "", line);
	}
	if (v == PF_LINE_OTHER)
		return 0;
	if (v != PF_LINE_FORWARDING && !w->first_error[0])
		snprintf(w->first_error, sizeof(w->first_error), "%s", line);
	w->verdict = v;
	return 1;
}

static int explain(const struct portforward_opts *o, const struct wait_state *w, int status,
		   struct kube_err *err)
{
	const char *line = w->first_error[0] ? w->first_error : w->tail;

	switch (w->verdict) {
	case PF_LINE_FORBIDDEN:
		kube_err_set(err, "RBAC forbids port-forwarding to the agent pod %s/%s: %s",
			     o->namespace, o->pod, line);
		kube_err_hint(
		    err,
		    "you need permission to get pods and create pods/portforward in namespace %s "
		    "(the chart's bpfmirror-user role grants it; docs/install.md); check "
		    "with: kubectl auth can-i create pods/portforward -n %s",
		    o->namespace, o->namespace);
		return -EACCES;
	case PF_LINE_UNAUTHORIZED:
		kube_err_set(err, "the cluster rejected kubectl's credentials: %s", line);
		kube_err_hint(err, "check the context's credentials: kubectl auth whoami");
		return -EACCES;
	case PF_LINE_NOT_RUNNING:
		kube_err_set(err, "the agent pod %s/%s is not running: %s", o->namespace, o->pod,
			     line);
		kube_err_hint(err, "check it with: kubectl -n %s describe pod %s", o->namespace,
			      o->pod);
		return -EAGAIN;
	case PF_LINE_NOT_FOUND:
		kube_err_set(err, "the agent pod %s/%s was not found: %s", o->namespace, o->pod,
			     line);
		kube_err_hint(err,
			      "it may have been replaced: retry, or list the agents with: kubectl "
			      "-n %s get pods -l app.kubernetes.io/name=bpfmirror-agent -o wide",
			      o->namespace);
		return -ENOENT;
	default:
		break;
	}
	if (status == -ETIMEDOUT) {
		kube_err_set(
		    err,
		    "kubectl port-forward to %s/%s:%u did not start forwarding within %d s%s%s",
		    o->namespace, o->pod, o->port,
		    (o->timeout_ms ? o->timeout_ms : PORTFORWARD_TIMEOUT_MS) / 1000,
		    w->tail[0] ? ": " : "", w->tail);
		kube_err_hint(err,
			      "run it by hand to see why: kubectl port-forward -n %s pod/%s :%u",
			      o->namespace, o->pod, o->port);
		return -ETIMEDOUT;
	}
	if (w->verdict == PF_LINE_ERROR)
		kube_err_set(err, "kubectl port-forward to %s/%s:%u failed: %s", o->namespace,
			     o->pod, o->port, line);
	else
		kube_err_set(err, "kubectl port-forward to %s/%s:%u exited (status %d)%s%s",
			     o->namespace, o->pod, o->port, status, w->tail[0] ? ": " : "",
			     w->tail);
	kube_err_hint(err, "run it by hand to see more: kubectl port-forward -n %s pod/%s :%u",
		      o->namespace, o->pod, o->port);
	return -EIO;
}

/* Reaps kubectl after its output ended; returns its exit status (128 + signal). */
static int reap(struct portforward *pf)
{
	int status = 0;

	if (pf->pid > 0 && waitpid(pf->pid, &status, 0) == pf->pid)
		pf->pid = -1;
	if (pf->out_fd >= 0) {
		close(pf->out_fd);
		pf->out_fd = -1;
	}
	pf->line_len = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/*
 * Waits for the "Forwarding from" line or a failure line: 0 (W says which),
 * -ETIMEDOUT, -ECANCELED (portforward_stop), or 0x100 | exit status when
 * kubectl ended without a line we know.
 */
static int wait_forwarding(struct portforward *pf, int timeout_ms, struct wait_state *w)
{
	int64_t deadline = now_ms() + timeout_ms;
	int stopped = 0;

	while (!stopped) {
		int64_t left = deadline - now_ms();
		struct pollfd p = {.fd = pf->out_fd, .events = POLLIN};
		if (atomic_load(&pf->stop))
			return -ECANCELED;
		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&p, 1, left < 200 ? (int)left : 200) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (p.revents && read_lines(pf, on_start_line, w, &stopped) == 1 && !stopped)
			return 0x100 | reap(pf);
	}
	return 0;
}

/* Runs kubectl once and waits for it to forward. 0, or -errno with ERR filled. */
static int run_once(struct portforward *pf, struct kube_err *err)
{
	const struct portforward_opts *o = &pf->opts;
	struct wait_state w = {0};
	char *argv[16];
	int argc = 0, ret, status;

	argv[argc++] = (char *)"kubectl";
	argv[argc++] = (char *)"port-forward";
	if (o->kubeconfig && o->kubeconfig[0]) {
		argv[argc++] = (char *)"--kubeconfig";
		argv[argc++] = (char *)o->kubeconfig;
	}
	if (o->context && o->context[0]) {
		argv[argc++] = (char *)"--context";
		argv[argc++] = (char *)o->context;
	}
	argv[argc++] = (char *)"--address";
	argv[argc++] = (char *)"127.0.0.1";
	argv[argc++] = (char *)"-n";
	argv[argc++] = (char *)o->namespace;
	argv[argc++] = pf->pod_arg;
	argv[argc++] = pf->port_arg;
	argv[argc] = NULL;

	log_debug("running %s port-forward -n %s %s %s", pf->kubectl, o->namespace, pf->pod_arg,
		  pf->port_arg);
	ret = spawn(pf, pf->kubectl, argv, err);
	if (ret)
		return ret;
	status =
	    wait_forwarding(pf, o->timeout_ms > 0 ? o->timeout_ms : PORTFORWARD_TIMEOUT_MS, &w);
	if (status == -ECANCELED) {
		kube_err_set(err, "stopped");
		return status;
	}
	if (status != 0 || w.verdict != PF_LINE_FORWARDING)
		return explain(o, &w, status == -ETIMEDOUT ? status : status & 0xff, err);
	if (pf->local_port && w.local_port != pf->local_port) {
		kube_err_set(err, "kubectl forwards from port %u, not %u", w.local_port,
			     pf->local_port);
		return -EIO;
	}
	pf->local_port = w.local_port;
	return 0;
}

static void kill_kubectl(struct portforward *pf)
{
	int64_t deadline = now_ms() + STOP_GRACE_MS;
	pid_t r;

	if (pf->pid <= 0)
		return;
	kill(-pf->pid, SIGTERM);
	while ((r = waitpid(pf->pid, NULL, WNOHANG)) == 0 && now_ms() < deadline)
		usleep(20 * 1000);
	if (r == 0) {
		kill(-pf->pid, SIGKILL);
		waitpid(pf->pid, NULL, 0);
	}
	/* Whatever else kubectl started (credential plugins) goes too. */
	kill(-pf->pid, SIGKILL);
	pf->pid = -1;
}

static int on_run_line(struct portforward *pf, const char *line, void *arg)
{
	(void)arg;
	if (strncmp(line, "Handling connection for", 23) == 0)
		log_debug("kubectl port-forward %s: %s", pf->what, line);
	else
		log_warn("kubectl port-forward %s: %s", pf->what, line);
	return 0;
}

/* Sleeps MS unless portforward_stop() is called meanwhile; false if it was. */
static bool pause_ms(struct portforward *pf, int ms)
{
	for (int64_t end = now_ms() + ms; now_ms() < end;) {
		if (atomic_load(&pf->stop))
			return false;
		usleep(100 * 1000);
	}
	return !atomic_load(&pf->stop);
}

/*
 * While the session lives: logs what kubectl prints (so its pipe never fills)
 * and, when kubectl ends (API server restart, idle timeout, a failed
 * connection to the pod), runs it again on the same local port with backoff,
 * so the session's own reconnects find the agent at the same address.
 */
static void *watch_main(void *arg)
{
	struct portforward *pf = arg;
	int backoff = RESTART_MIN_MS, stopped = 0;

	while (!atomic_load(&pf->stop)) {
		struct kube_err err = {{0}, {0}};
		struct pollfd p = {.fd = pf->out_fd, .events = POLLIN};
		int r, status;

		if (pf->out_fd >= 0) {
			r = poll(&p, 1, 200);
			if ((r < 0 && errno != EINTR) ||
			    (r > 0 && read_lines(pf, on_run_line, NULL, &stopped) == 1)) {
				status = reap(pf);
				log_warn("kubectl port-forward %s ended (status %d); restarting it "
					 "on %s",
					 pf->what, status, pf->address);
			}
			continue;
		}
		if (!pause_ms(pf, backoff))
			break;
		if (run_once(pf, &err) == 0) {
			log_info("port-forward to agent pod %s restored on %s", pf->what,
				 pf->address);
			backoff = RESTART_MIN_MS;
			continue;
		}
		kill_kubectl(pf);
		reap(pf);
		if (atomic_load(&pf->stop))
			break;
		log_warn("port-forward to agent pod %s: %s (retrying in %d ms)", pf->what, err.msg,
			 backoff * 2 > RESTART_MAX_MS ? RESTART_MAX_MS : backoff * 2);
		backoff = backoff * 2 > RESTART_MAX_MS ? RESTART_MAX_MS : backoff * 2;
	}
	return NULL;
}

struct portforward *portforward_start(const struct portforward_opts *o, struct kube_err *err)
{
	struct portforward *pf;
	sigset_t all, old;
	int ret;

	pf = calloc(1, sizeof(*pf));
	if (!pf) {
		kube_err_set(err, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	pf->pid = -1;
	pf->out_fd = -1;
	pf->opts = *o;
	pf->opts.kubeconfig = o->kubeconfig ? strdup(o->kubeconfig) : NULL;
	pf->opts.context = o->context ? strdup(o->context) : NULL;
	pf->opts.namespace = strdup(o->namespace);
	pf->opts.pod = strdup(o->pod);
	if ((o->kubeconfig && !pf->opts.kubeconfig) || (o->context && !pf->opts.context) ||
	    !pf->opts.namespace || !pf->opts.pod) {
		ret = -ENOMEM;
		kube_err_set(err, "out of memory");
		goto fail;
	}
	ret = portforward_find_kubectl(pf->kubectl, sizeof(pf->kubectl), err);
	if (ret)
		goto fail;
	snprintf(pf->what, sizeof(pf->what), "%s/%s:%u", o->namespace, o->pod, o->port);
	snprintf(pf->pod_arg, sizeof(pf->pod_arg), "pod/%s", o->pod);
	snprintf(pf->port_arg, sizeof(pf->port_arg), ":%u", o->port);
	ret = run_once(pf, err);
	if (ret)
		goto fail;
	/* A restart must come back on the same local port. */
	snprintf(pf->port_arg, sizeof(pf->port_arg), "%u:%u", pf->local_port, o->port);
	snprintf(pf->address, sizeof(pf->address), "127.0.0.1:%u", pf->local_port);
	/*
	 * The thread blocks every signal: the session takes SIGCHLD, SIGINT, ...
	 * through a signalfd in the main thread, and a signal the kernel handed
	 * to this thread instead would be lost to it.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (pthread_create(&pf->watch, NULL, watch_main, pf) == 0)
		pf->have_watch = true;
	else
		log_warn("kubectl port-forward %s: cannot watch its output", pf->what);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	log_info("port-forward to agent pod %s listens on %s", pf->what, pf->address);
	return pf;
fail:
	portforward_stop(pf);
	errno = -ret;
	return NULL;
}

const char *portforward_address(const struct portforward *pf)
{
	return pf->address;
}

void portforward_stop(struct portforward *pf)
{
	if (!pf)
		return;
	atomic_store(&pf->stop, true);
	if (pf->have_watch)
		pthread_join(pf->watch, NULL);
	kill_kubectl(pf);
	if (pf->out_fd >= 0)
		close(pf->out_fd);
	free((char *)pf->opts.kubeconfig);
	free((char *)pf->opts.context);
	free((char *)pf->opts.namespace);
	free((char *)pf->opts.pod);
	free(pf);
}
