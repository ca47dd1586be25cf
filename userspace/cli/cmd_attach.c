/* bpfmirror attach: resolve the target, attach through its agents, run the command in the twin. */
#include "commands.h"
#include "config.h"
#include "kube.h"
#include "log.h"
#include "opttab.h"
#include "podfiles.h"
#include "portforward.h"
#include "regexcheck.h"
#include "attach_session.h"
#include "target.h"
#include "twin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <pwd.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct attach_cli {
	const char *config_file;
	const char *agent_addr;
	bool exit_on_disconnect;
	char **cmd;
};

static int64_t ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static const struct opttab_opt attach_opts[] = {
    {"namespace", 'n', OPTTAB_SHORT, "NAMESPACE", "namespace (default: the context's)"},
    {"kubeconfig", 'K', 0, "FILE", "kubeconfig (default: $KUBECONFIG, ~/.kube/config)"},
    {"context", 'C', 0, "NAME", "kubeconfig context (default: its current one)"},
    {"file", 'f', OPTTAB_SHORT, "FILE", "config file (default: ./bpfmirror.yaml if present)"},
    {"port", 'p', OPTTAB_SHORT, "PORT",
     "a port to take; repeat for more\n(default: the container's)"},
    {"steal", 's', 0, NULL, "take new connections instead of copying them"},
    {"header", 'H', 0, "REGEX", "steal only requests with a matching header line"},
    {"path", 'P', 0, "REGEX", "steal only requests with a matching path"},
    {"agent", 'a', 0, "HOST:PORT", "this agent, not the target's node agent"},
    {"connect", 'c', 0, "MODE", "direct or port-forward: how to reach the agents"},
    {"exit-on-disconnect", 'x', 0, NULL, "stop when an agent link is lost"},
    {"help", 'h', OPTTAB_SHORT, NULL, "show this help"},
    {0},
};

static struct opttab attach_tab = {
    .opts = attach_opts,
    .usage = "bpfmirror attach TARGET [OPTIONS] [-- COMMAND [ARGS...]]",
    .about = "TARGET: pod/NAME, deployment/NAME, statefulset/NAME, replicaset/NAME, with an\n"
	     "optional /container/NAME. Without COMMAND an interactive shell runs in the twin.\n"
	     "Mirror (default): the command gets a copy of each new connection to the ports.\n",
    /* Options after COMMAND are the command's. */
    .in_order = true,
};

/* The flags that set a config key, and which key. */
static const struct {
	int id;
	const char *key;
	bool append; /* repeated flags add to the list */
} flag_keys[] = {
    {'n', "namespace", false},
    {'K', "kubeconfig", false},
    {'C', "context", false},
    {'p', "incoming.ports", true},
    {'s', "incoming.mode", false},
    {'H', "incoming.http_filter.header", false},
    {'P', "incoming.http_filter.path", false},
    {'a', "agent.address", false},
    {'c', "agent.connect", false},
};

/* Config keys set on the command line, in order; applied after the file. */
struct flag_sets {
	struct {
		const char *key;
		const char *value;
		bool append;
	} v[64];
	size_t n;
};

static void flag_sets_add(struct flag_sets *fs, const char *key, const char *value, bool append)
{
	/* One slot stays free for the TARGET. */
	if (fs->n >= sizeof(fs->v) / sizeof(fs->v[0]) - 1)
		return;
	fs->v[fs->n].key = key;
	fs->v[fs->n].value = value;
	fs->v[fs->n].append = append;
	fs->n++;
}

/* An option that sets a config key: queued in FS; false for the others. */
static bool take_config_flag(struct flag_sets *fs, int id, const char *arg)
{
	for (size_t i = 0; i < sizeof(flag_keys) / sizeof(flag_keys[0]); i++) {
		if (flag_keys[i].id != id)
			continue;
		flag_sets_add(fs, flag_keys[i].key, id == 's' ? "steal" : arg, flag_keys[i].append);
		return true;
	}
	return false;
}

/*
 * Reads the options and the TARGET (which may sit between options; "--" ends
 * them, the COMMAND follows). Returns 0, 1 after --help, or 2 (usage error).
 */
static int collect_flags(int argc, char **argv, struct attach_cli *cli, struct flag_sets *fs)
{
	const char *target = NULL, *arg;
	int c;

	if (opttab_init(&attach_tab))
		return 2;
	for (;;) {
		c = opttab_next(&attach_tab, argc, argv, &arg);
		if (c == -1) {
			if (optind < argc && !target && strcmp(argv[optind - 1], "--") != 0 &&
			    strcmp(argv[optind], "--") != 0) {
				target = argv[optind++];
				continue;
			}
			break;
		}
		if (c == 'a')
			cli->agent_addr = arg;
		if (take_config_flag(fs, c, arg))
			continue;
		switch (c) {
		case 'f':
			cli->config_file = arg;
			break;
		case 'x':
			cli->exit_on_disconnect = true;
			break;
		case 'h':
			opttab_usage(&attach_tab, stdout);
			return 1;
		default:
			opttab_usage(&attach_tab, stderr);
			return 2;
		}
	}
	if (target)
		flag_sets_add(fs, "target", target, false);
	if (optind < argc && strcmp(argv[optind], "--") == 0)
		optind++;
	cli->cmd = optind < argc ? argv + optind : NULL;
	return 0;
}

/* The config file (given or ./bpfmirror.yaml), then the flags over it. 0 or 2. */
static int apply_settings(struct bm_userconfig *cfg, const struct attach_cli *cli,
			  const struct flag_sets *fs)
{
	struct bm_error err = {{0}};
	int rc = 0;

	if (cli->config_file) {
		rc = config_load_file(cli->config_file, cfg, &err);
	} else if (access(BM_CONFIG_DEFAULT_FILE, R_OK) == 0) {
		rc = config_load_file(BM_CONFIG_DEFAULT_FILE, cfg, &err);
		if (!rc)
			log_info("using %s", BM_CONFIG_DEFAULT_FILE);
	}
	for (size_t i = 0; i < fs->n && !rc; i++)
		rc = fs->v[i].append ? config_append_option(cfg, fs->v[i].key, fs->v[i].value, &err)
				     : config_set_option(cfg, fs->v[i].key, fs->v[i].value, &err);
	if (!rc)
		rc = config_validate(cfg, &err);
	if (rc) {
		log_error("%s", err.msg);
		return 2;
	}
	if (!cfg->target) {
		log_error("attach: no TARGET (e.g. deployment/my-app), neither on the command line "
			  "nor in the config file");
		return 2;
	}
	return 0;
}

/* Returns 0, 1 after --help, or 2 (usage or config error, logged). */
static int parse_args(int argc, char **argv, struct bm_userconfig *cfg, struct attach_cli *cli)
{
	struct flag_sets fs = {.n = 0};
	int rc = collect_flags(argc, argv, cli, &fs);

	return rc ? rc : apply_settings(cfg, cli, &fs);
}

/* The command's environment: the pod's (as configured) + local ones it lacks. */
static char **build_env(const struct bm_userconfig *cfg, const Bpfmirror__AttachReply *ar)
{
	size_t cap = ar->n_env + cfg->env.override.n + 64, n = 0;
	char **env = calloc(cap + 1, sizeof(*env));

	if (!env)
		return NULL;
	for (size_t i = 0; i < ar->n_env && n < cap; i++) {
		const char *k = ar->env[i]->key;
		bool overridden = false;
		for (size_t j = 0; j < cfg->env.override.n; j++)
			overridden |= strcmp(cfg->env.override.v[j].name, k) == 0;
		if (overridden || !config_env_selected(cfg, k))
			continue;
		if (asprintf(&env[n], "%s=%s", k, ar->env[i]->value) > 0)
			n++;
	}
	for (size_t j = 0; j < cfg->env.override.n && n < cap; j++)
		if (asprintf(&env[n], "%s=%s", cfg->env.override.v[j].name,
			     cfg->env.override.v[j].value) > 0)
			n++;
	for (char **e = environ; *e && n < cap; e++) {
		size_t kl = strcspn(*e, "=");
		bool have = false;
		for (size_t i = 0; i < n && !have; i++)
			have = strncmp(env[i], *e, kl) == 0 && env[i][kl] == '=';
		if (!have)
			env[n++] = strdup(*e);
	}
	return env;
}

static void free_env(char **env)
{
	for (size_t i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static int write_text(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "we");
	int err = 0;

	if (!f)
		return -errno;
	if (len && fwrite(data, 1, len, f) != len)
		err = -EIO;
	if (fclose(f))
		err = -errno;
	return err;
}

static const char *identity(char *buf, size_t len)
{
	char host[128] = "localhost";
	struct passwd *pw = getpwuid(getuid());
	const char *ci = getenv("BPFMIRROR_IDENTITY");

	if (ci && ci[0])
		return ci;
	gethostname(host, sizeof(host) - 1);
	snprintf(buf, len, "%s@%s", pw ? pw->pw_name : "unknown", host);
	return buf;
}

/* agent.connect: port-forward: one kubectl port-forward per agent pod, shared by its pods. */
static int agent_port_forward(const struct bm_userconfig *cfg, const struct target *t, size_t i,
			      struct portforward **pfs, char *addr, size_t len)
{
	const struct target_agent *a = &t->pods[i].agent;
	struct portforward_opts o = {.kubeconfig = cfg->kubeconfig,
				     .context = cfg->context,
				     .namespace = a->namespace,
				     .pod = a->pod,
				     .port = a->port};
	struct kube_err kerr = {{0}, {0}};
	int ret;

	for (size_t j = 0; j < i; j++)
		if (pfs[j] && strcmp(t->pods[j].agent.pod, a->pod) == 0 &&
		    strcmp(t->pods[j].agent.namespace, a->namespace) == 0) {
			snprintf(addr, len, "%s", portforward_address(pfs[j]));
			return 0;
		}
	pfs[i] = portforward_start(&o, &kerr);
	if (!pfs[i]) {
		ret = -errno;
		kube_err_log(&kerr, "cannot port-forward to the agent");
		return ret;
	}
	snprintf(addr, len, "%s", portforward_address(pfs[i]));
	return 0;
}

/*
 * outgoing.local: "redis-main", "redis-main.other-ns[.svc[.cluster.local]]" or
 * an IPv4 address. A Service name is looked up through the API: its ClusterIP
 * is what the app connects to.
 */
static int resolve_locals(struct kube_client *kc, const char *ns, const struct bm_userconfig *cfg,
			  struct twin_local *out, size_t *n)
{
	struct kube_err kerr = {{0}, {0}};

	*n = 0;
	for (size_t i = 0; i < cfg->outgoing.local.n && *n < TWIN_MAX_LOCAL; i++) {
		const struct bm_endpoint *e = &cfg->outgoing.local.v[i];
		struct twin_local *l = &out[(*n)++];
		struct in_addr a;
		l->port = e->port;
		l->local_port = e->local_port ? e->local_port : e->port;
		if (inet_pton(AF_INET, e->host, &a) == 1) {
			snprintf(l->ip, sizeof(l->ip), "%s", e->host);
		} else {
			char name[254], svc_ns[254];
			char *dot;
			const char *ip;
			json_object *svc = NULL;
			snprintf(name, sizeof(name), "%s", e->host);
			snprintf(svc_ns, sizeof(svc_ns), "%s", ns);
			dot = strchr(name, '.');
			if (dot) {
				*dot = '\0';
				snprintf(svc_ns, sizeof(svc_ns), "%.*s", (int)strcspn(dot + 1, "."),
					 dot + 1);
			}
			if (kube_get_object(kc, "v1", svc_ns, "services", name, &svc, &kerr)) {
				log_error("outgoing.local '%s': %s", e->host, kerr.msg);
				return -ENOENT;
			}
			ip = kj_str(svc, "spec.clusterIP");
			if (!ip || inet_pton(AF_INET, ip, &a) != 1) {
				log_error("outgoing.local '%s': the Service has no IPv4 ClusterIP "
					  "(headless?); give an IP address instead",
					  e->host);
				json_object_put(svc);
				return -EINVAL;
			}
			snprintf(l->ip, sizeof(l->ip), "%s", ip);
			json_object_put(svc);
		}
		log_info("outgoing.local: %s:%u (%s) -> 127.0.0.1:%u on this machine", e->host,
			 l->port, l->ip, l->local_port);
	}
	return 0;
}

static int fill_links(const struct bm_userconfig *cfg, const struct target *t,
		      struct attach_cli *cli, struct link *links, size_t *nlinks,
		      struct portforward **pfs)
{
	*nlinks = 0;
	for (size_t i = 0; i < t->n_pods && *nlinks < ATTACH_MAX_LINKS; i++) {
		const struct target_pod *p = &t->pods[i];
		struct link *l = &links[(*nlinks)++];
		memset(l, 0, sizeof(*l));
		if (cli->agent_addr) {
			snprintf(l->agent_addr, sizeof(l->agent_addr), "%s", cli->agent_addr);
		} else if (!p->has_agent) {
			log_error("no bpfmirror agent runs on node %s (pod %s)", p->node, p->name);
			log_error("hint: install the chart (docs/install.md) or check its "
				  "nodeSelector and tolerations");
			return -ENOENT;
		} else if (cfg->agent.connect == BM_CONNECT_DIRECT) {
			snprintf(l->agent_addr, sizeof(l->agent_addr), "%s:%u", p->agent.address,
				 p->agent.port);
		} else {
			int ret = agent_port_forward(cfg, t, i, pfs, l->agent_addr,
						     sizeof(l->agent_addr));
			if (ret)
				return ret;
		}
		snprintf(l->pod_name, sizeof(l->pod_name), "%s", p->name);
		snprintf(l->pod_uid, sizeof(l->pod_uid), "%s", p->uid);
		snprintf(l->pod_ip, sizeof(l->pod_ip), "%s", p->pod_ips[0]);
		snprintf(l->container_id, sizeof(l->container_id), "%s%s%s", p->runtime,
			 p->runtime[0] ? "://" : "", p->container_id);
		snprintf(l->container_name, sizeof(l->container_name), "%s", p->container);
	}
	return 0;
}

/*
 * Filters are checked here, before anything is attached, by the same
 * validator the agent applies (header case-insensitive).
 */
static int check_filter(const char *what, const char *re, int flags)
{
	char msg[256];

	if (!re || !re[0])
		return 0;
	if (regex_check(re, flags, msg, sizeof(msg))) {
		log_error("attach: %s: %s", what, msg);
		return -EINVAL;
	}
	return 0;
}

/* Everything one attach holds; attach_release() frees it in one place. */
struct attach {
	struct bm_userconfig cfg;
	struct attach_cli cli;
	struct attach_params ap;
	struct target t;
	struct kube_client *kc;
	char *ns;
	struct link *links; /* ATTACH_MAX_LINKS of them, nlinks used */
	size_t nlinks;
	struct portforward *pfs[ATTACH_MAX_LINKS];
	Bpfmirror__Frame *first; /* the first agent's AttachReply */
	struct path_list paths, rw_paths;
	char tmpdir[32];
	bool have_tmp;
	char files[300], resolv[300], newroot[300];
	char idbuf[256];
	struct twin tw;
	struct twin_opts to;
	struct twin_local locals[TWIN_MAX_LOCAL];
	char *extra_ips[ATTACH_MAX_LINKS];
	char **env;
	char *shell_argv[2];
};

/* A filter steals: it is refused without --steal, and must compile. */
static int check_filters(const struct bm_userconfig *cfg)
{
	if (check_filter("--header", cfg->incoming.header, REG_ICASE) ||
	    check_filter("--path", cfg->incoming.path, 0))
		return -EINVAL;
	if (((cfg->incoming.header && cfg->incoming.header[0]) ||
	     (cfg->incoming.path && cfg->incoming.path[0])) &&
	    cfg->incoming.mode != BM_MODE_STEAL) {
		log_error("attach: --header and --path filter what is stolen: add --steal");
		return -EINVAL;
	}
	return 0;
}

/* The target's pods (and their node agents, unless --agent names one). */
static int resolve_target(struct attach *a)
{
	struct kube_err kerr = {{0}, {0}};
	struct target_spec spec;

	if (target_parse(a->cfg.target, &spec, &kerr) ||
	    kube_open(a->cfg.kubeconfig, a->cfg.context, a->cfg.namespace, &a->kc, &a->ns, &kerr)) {
		kube_err_log(&kerr, "cannot read the target");
		return -EINVAL;
	}
	log_info("resolving %s in namespace %s (%s)", a->cfg.target, a->ns,
		 kube_client_server(a->kc));
	/* With --agent the caller names its agent: no lookup of the DaemonSet. */
	if (a->cli.agent_addr ? target_resolve_pods(a->kc, &spec, a->ns, &a->t, &kerr)
			      : target_resolve(a->kc, &spec, a->ns, NULL, &a->t, &kerr)) {
		kube_err_log(&kerr, "cannot resolve the target");
		return -ENOENT;
	}
	return 0;
}

/* incoming.ports, else the first pod's declared TCP ports. */
static void choose_ports(const struct bm_userconfig *cfg, const struct target_pod *pod,
			 struct attach_params *ap)
{
	if (cfg->incoming.ports.set) {
		for (size_t i = 0; i < cfg->incoming.ports.n && ap->nports < ATTACH_MAX_PORTS; i++)
			ap->ports[ap->nports++] = cfg->incoming.ports.v[i];
		return;
	}
	for (size_t i = 0; i < pod->n_ports && ap->nports < ATTACH_MAX_PORTS; i++)
		if (strcmp(pod->ports[i].protocol, "UDP") && strcmp(pod->ports[i].protocol, "SCTP"))
			ap->ports[ap->nports++] = pod->ports[i].port;
}

/* What each agent is asked for. */
static void fill_params(struct attach *a)
{
	struct attach_params *ap = &a->ap;

	ap->identity = identity(a->idbuf, sizeof(a->idbuf));
	ap->ns = a->ns;
	ap->steal = a->cfg.incoming.mode == BM_MODE_STEAL;
	ap->header = a->cfg.incoming.header;
	ap->path = a->cfg.incoming.path;
	ap->exit_on_disconnect = a->cli.exit_on_disconnect;
	ap->interactive = a->cli.cmd == NULL;
	choose_ports(&a->cfg, &a->t.pods[0], ap);
}

static void log_attached(const struct attach *a)
{
	char ports[256] = "";
	size_t off = 0;

	for (size_t i = 0; i < a->ap.nports && off < sizeof(ports) - 8; i++)
		off += (size_t)snprintf(ports + off, sizeof(ports) - off, "%s%u", i ? "," : "",
					a->ap.ports[i]);
	log_info("attached: %zu pod(s), port(s) %s %s, %zu env vars, outgoing ports %u-%u",
		 a->nlinks, a->ap.nports ? ports : "(none)", a->ap.steal ? "stolen" : "mirrored",
		 a->first->attach_reply->n_env, a->links[0].range_lo, a->links[0].range_hi);
}

/* One link per pod, each attached through its agent; a->first keeps the first reply. */
static int attach_agents(struct attach *a)
{
	char err[512];

	a->links = calloc(ATTACH_MAX_LINKS, sizeof(*a->links));
	if (!a->links)
		return -ENOMEM;
	if (fill_links(&a->cfg, &a->t, &a->cli, a->links, &a->nlinks, a->pfs))
		return -ENOENT;
	fill_params(a);
	for (size_t i = 0; i < a->nlinks; i++) {
		Bpfmirror__Frame *r = NULL;
		log_info("attaching to pod %s (%s) on node %s through agent %s",
			 a->links[i].pod_name, a->links[i].pod_ip, a->t.pods[i].node,
			 a->links[i].agent_addr);
		if (link_attach(&a->links[i], &a->ap, &r, err, sizeof(err))) {
			log_error("%s", err);
			return -ECONNREFUSED;
		}
		if (!a->first)
			a->first = r;
		else
			wire_frame_free(r);
	}
	log_attached(a);
	return 0;
}

/* fs.read_only (default: the pod's ConfigMap/Secret mounts) plus fs.read_write. */
static void choose_paths(struct attach *a)
{
	const struct bm_userconfig *cfg = &a->cfg;

	if (cfg->fs.read_only.set) {
		for (size_t i = 0; i < cfg->fs.read_only.n; i++)
			path_list_add(&a->paths, cfg->fs.read_only.v[i]);
	} else {
		podfiles_default_paths(a->t.pods[0].object, a->t.pods[0].container, &a->paths);
	}
	/* Read-write paths are copied like the others and written back on change. */
	for (size_t i = 0; i < cfg->fs.read_write.n; i++) {
		path_list_add(&a->paths, cfg->fs.read_write.v[i]);
		path_list_add(&a->rw_paths, cfg->fs.read_write.v[i]);
	}
}

/* Files of the container, resolv.conf, a root to build the twin in: under a temporary dir. */
static int stage_files(struct attach *a)
{
	const Bpfmirror__AttachReply *ar = a->first->attach_reply;
	struct stage_stats sst = {0};

	snprintf(a->tmpdir, sizeof(a->tmpdir), "/tmp/bpfmirror-XXXXXX");
	if (!mkdtemp(a->tmpdir)) {
		log_error("cannot create a temporary directory: %s", strerror(errno));
		return -errno;
	}
	a->have_tmp = true;
	snprintf(a->files, sizeof(a->files), "%s/files", a->tmpdir);
	snprintf(a->resolv, sizeof(a->resolv), "%s/resolv.conf", a->tmpdir);
	snprintf(a->newroot, sizeof(a->newroot), "%s/root", a->tmpdir);
	if (mkdir(a->files, 0700) || mkdir(a->newroot, 0700))
		return -errno;
	choose_paths(a);
	if (podfiles_stage(a->links[0].cl, &a->paths, a->files, &sst)) {
		log_error("copying the container's files failed");
		return -EIO;
	}
	log_info("files: %zu from %zu path(s)%s", sst.files, a->paths.n,
		 sst.denied ? " (some withheld by policy)" : "");
	if (ar->resolv_conf.len &&
	    write_text(a->resolv, ar->resolv_conf.data, ar->resolv_conf.len) == 0)
		a->to.resolv_path = a->resolv;
	return 0;
}

/* The twin's options: the first pod's identity, the other replicas' addresses, the files. */
static int fill_twin_opts(struct attach *a)
{
	struct twin_opts *to = &a->to;
	size_t nlocals = 0;

	if (resolve_locals(a->kc, a->ns, &a->cfg, a->locals, &nlocals))
		return -ENOENT;
	to->locals = a->locals;
	to->nlocals = nlocals;
	a->env = build_env(&a->cfg, a->first->attach_reply);
	to->pod_ip = a->links[0].pod_ip;
	for (size_t i = 1; i < a->nlinks; i++)
		a->extra_ips[i - 1] = a->links[i].pod_ip;
	to->extra_ips = a->extra_ips;
	to->hostname = a->links[0].pod_name;
	to->range_lo = a->links[0].range_lo;
	to->range_hi = a->links[0].range_hi;
	to->files_root = a->files;
	to->file_paths = a->paths.v;
	to->rw_paths = a->rw_paths.v;
	a->ap.files_root = a->files;
	a->ap.rw_paths = a->rw_paths.v;
	to->newroot = a->newroot;
	to->env = a->env;
	a->shell_argv[0] = getenv("SHELL") ? getenv("SHELL") : (char *)"/bin/sh";
	to->argv = a->cli.cmd ? a->cli.cmd : a->shell_argv;
	return 0;
}

/* Starts the twin, lets its command go and runs the session; the command's exit status. */
static int run_twin(struct attach *a, const struct timespec *t0)
{
	struct attach_session_stats st = {0};
	char err[512];
	int rc;

	if (twin_start(&a->to, &a->tw, err, sizeof(err))) {
		log_error("%s", err);
		return -1;
	}
	log_info("ready in %lld ms: running %s as %s", (long long)ms_since(t0), a->to.argv[0],
		 a->links[0].pod_name);
	if (twin_go(&a->tw, err, sizeof(err))) {
		log_error("%s", err);
		return -1;
	}
	rc = attach_session_run(a->links, a->nlinks, &a->ap, &a->tw, &st);
	log_info("detached (command exit status %d; %llu packets from the agent, %llu sent)", rc,
		 (unsigned long long)st.pkts_from_agent, (unsigned long long)st.pkts_to_agent);
	return rc;
}

static void attach_release(struct attach *a)
{
	twin_close(&a->tw);
	for (size_t i = 0; a->links && i < a->nlinks; i++)
		client_close(a->links[i].cl);
	for (size_t i = 0; i < ATTACH_MAX_LINKS; i++)
		portforward_stop(a->pfs[i]);
	free(a->links);
	if (a->first)
		wire_frame_free(a->first);
	if (a->have_tmp)
		nftw(a->tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free_env(a->env);
	path_list_free(&a->paths);
	path_list_free(&a->rw_paths);
	target_clear(&a->t);
	kube_client_free(a->kc);
	free(a->ns);
	config_free(&a->cfg);
}

int cmd_attach(int argc, char **argv)
{
	struct attach *a = calloc(1, sizeof(*a));
	struct timespec t0;
	int rc = 1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!a)
		return 1;
	a->tw = (struct twin){.pid = -1, .tun_fd = -1, .ctl_fd = -1};
	if (config_defaults(&a->cfg)) {
		free(a);
		return 1;
	}
	rc = parse_args(argc, argv, &a->cfg, &a->cli);
	if (rc)
		rc = rc == 1 ? 0 : rc;
	else if (check_filters(&a->cfg))
		rc = 2;
	else if (resolve_target(a) || attach_agents(a) || stage_files(a) || fill_twin_opts(a))
		rc = 1;
	else
		rc = run_twin(a, &t0);
	if (rc < 0)
		rc = 1;
	attach_release(a);
	free(a);
	return rc;
}
