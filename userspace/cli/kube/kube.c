/* A small read-only Kubernetes API client: HTTPS GET of JSON with kubeconfig credentials. */
#include "kube.h"
#include "log.h"
#include "readfile.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef BPFMIRROR_VERSION
#define BPFMIRROR_VERSION "dev"
#endif

#define KUBE_CONNECT_TIMEOUT_S 10L
#define KUBE_REQUEST_TIMEOUT_S 30L
/* A plugin may open a browser for a login: give it time, but not forever. */
#define KUBE_EXEC_TIMEOUT_MS  (120 * 1000)
#define KUBE_EXEC_MAX_OUTPUT  (1u << 20)
#define KUBE_EXEC_DEFAULT_API "client.authentication.k8s.io/v1beta1"
/* A tokenFile holds one bearer token: anything larger is not one. */
#define KUBE_TOKEN_MAX (16u << 10)
/* Lists are read in pages, as kubectl does, and bounded in total. */
#define KUBE_LIST_PAGE	    500u
#define KUBE_LIST_MAX_PAGES 200u

struct kube_client {
	CURL *curl;
	struct curl_slist *headers;
	struct curl_slist *connect_to;
	char *server; /* URL prefix used for requests */
	char *display_server;
	char errbuf[CURL_ERROR_SIZE];
};

/* ---- json helpers ---------------------------------------------------------- */

json_object *kj_get(json_object *obj, const char *path)
{
	char key[128];

	while (obj && path && *path) {
		size_t n = strcspn(path, ".");

		if (n >= sizeof(key) || !json_object_is_type(obj, json_type_object))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		if (!json_object_object_get_ex(obj, key, &obj))
			return NULL;
		path += n;
		if (*path == '.')
			path++;
	}
	return obj;
}

const char *kj_str(json_object *obj, const char *path)
{
	json_object *v = kj_get(obj, path);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

long long kj_int(json_object *obj, const char *path, long long def)
{
	json_object *v = kj_get(obj, path);

	if (!v || !json_object_is_type(v, json_type_int))
		return def;
	return (long long)json_object_get_int64(v);
}

size_t kj_len(json_object *obj, const char *path)
{
	json_object *v = kj_get(obj, path);

	return v && json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 0;
}

json_object *kj_idx(json_object *obj, const char *path, size_t i)
{
	json_object *v = kj_get(obj, path);

	if (!v || !json_object_is_type(v, json_type_array) || i >= json_object_array_length(v))
		return NULL;
	return json_object_array_get_idx(v, i);
}

/* Parses exactly LEN bytes of JSON; NULL on any error or trailing garbage. */
static json_object *parse_json(const char *buf, size_t len)
{
	struct json_tokener *tok;
	json_object *obj;

	if (len > KUBE_MAX_BODY)
		return NULL;
	tok = json_tokener_new_ex(64);
	if (!tok)
		return NULL;
	obj = json_tokener_parse_ex(tok, buf, (int)len);
	if (obj && json_tokener_get_parse_end(tok) < len) {
		/* Allow trailing whitespace only. */
		for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
			if (!strchr(" \t\r\n", buf[i])) {
				json_object_put(obj);
				obj = NULL;
				break;
			}
		}
	}
	if (!obj && json_tokener_get_error(tok) == json_tokener_continue)
		obj = NULL;
	json_tokener_free(tok);
	return obj;
}

/* ---- status mapping ------------------------------------------------------------ */

int kube_status_error(long http_code, const char *body, size_t len, const char *what,
		      struct kube_err *err)
{
	json_object *st = body && len ? parse_json(body, len) : NULL;
	const char *msg = NULL;
	int ret;

	if (st && kj_str(st, "kind") && strcmp(kj_str(st, "kind"), "Status") == 0)
		msg = kj_str(st, "message");
	switch (http_code) {
	case 401:
		ret = -EACCES;
		kube_err_set(err, "the API server rejected the credentials (401 Unauthorized)%s%s",
			     msg ? ": " : "", msg ? msg : "");
		kube_err_hint(err, "check the user's token or certificates in the kubeconfig, or "
				   "log in again");
		break;
	case 403:
		ret = -EPERM;
		kube_err_set(err, "not allowed: %s", msg ? msg : what);
		kube_err_hint(err, "ask a cluster admin for get/list rights on this resource");
		break;
	case 404:
		ret = -ENOENT;
		kube_err_set(err, "not found: %s", msg ? msg : what);
		break;
	case 429:
		ret = -EAGAIN;
		kube_err_set(err, "the API server is throttling requests (429)%s%s",
			     msg ? ": " : "", msg ? msg : "");
		break;
	default:
		ret = http_code >= 500 ? -EIO : -EPROTO;
		kube_err_set(err, "%s failed with HTTP %ld%s%s", what, http_code, msg ? ": " : "",
			     msg ? msg : "");
		break;
	}
	json_object_put(st);
	return ret;
}

/* ---- exec credential plugins --------------------------------------------------- */

void kube_exec_cred_clear(struct kube_exec_cred *cred)
{
	char **all[] = {&cred->token, &cred->cert_pem, &cred->key_pem};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (*all[i])
			explicit_bzero(*all[i], strlen(*all[i]));
		free(*all[i]);
		*all[i] = NULL;
	}
}

/* Does "NAME=..." entry E set one of the variables in SET? */
static bool env_overridden(const char *e, char **set, const char *extra)
{
	size_t n = strcspn(e, "=");

	for (char **p = set; p && *p; p++)
		if (strncmp(*p, e, n) == 0 && (*p)[n] == '=')
			return true;
	return strncmp(extra, e, n) == 0 && extra[n] == '=';
}

/*
 * Builds the plugin's argv and environment before fork(), so the child only
 * calls async-signal-safe functions (the caller may have threads).
 */
static int exec_vectors(const struct kube_exec *x, const char *info, char ***argv_out,
			char ***envp_out, char **info_env)
{
	size_t nargs = 0, nenv = 0, nextra = 0, k = 0;
	char **argv, **envp;

	while (x->args && x->args[nargs])
		nargs++;
	while (environ && environ[nenv])
		nenv++;
	while (x->env && x->env[nextra])
		nextra++;
	if (asprintf(info_env, "KUBERNETES_EXEC_INFO=%s", info) < 0) {
		*info_env = NULL;
		return -ENOMEM;
	}
	argv = calloc(nargs + 2, sizeof(*argv));
	envp = calloc(nenv + nextra + 2, sizeof(*envp));
	if (!argv || !envp) {
		free(argv);
		free(envp);
		return -ENOMEM;
	}
	argv[0] = x->command;
	for (size_t i = 0; i < nargs; i++)
		argv[i + 1] = x->args[i];
	for (size_t i = 0; i < nenv; i++)
		if (!env_overridden(environ[i], x->env, *info_env))
			envp[k++] = environ[i];
	for (size_t i = 0; i < nextra; i++)
		envp[k++] = x->env[i];
	envp[k] = *info_env;
	*argv_out = argv;
	*envp_out = envp;
	return 0;
}

/* The child side: stdout to the pipe, exec; reports exec's errno on ERRFD. */
static void exec_child(int outfd, int errfd, char **argv, char **envp)
{
	int e;

	if (outfd == STDOUT_FILENO)
		e = fcntl(outfd, F_SETFD, 0);
	else
		e = dup2(outfd, STDOUT_FILENO);
	if (e >= 0) {
		environ = envp;
		execvp(argv[0], argv);
	}
	e = errno;
	if (write(errfd, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(127);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads the plugin's stdout until EOF, bounded in size and time. */
static int read_plugin_output(int fd, char **out, size_t *out_len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	long long deadline = now_ms() + KUBE_EXEC_TIMEOUT_MS;
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		long long left = deadline - now_ms();
		ssize_t r;
		int pr;

		if (left <= 0) {
			ret = -ETIMEDOUT;
			break;
		}
		pr = poll(&pfd, 1, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0) {
			ret = -errno;
			break;
		}
		if (pr == 0)
			continue;
		if (n + 1 >= cap) {
			char *nb;

			if (cap >= KUBE_EXEC_MAX_OUTPUT) {
				ret = -EFBIG;
				break;
			}
			nb = realloc(buf, cap * 2);
			if (!nb) {
				ret = -ENOMEM;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (ret) {
		free(buf);
		return ret;
	}
	buf[n] = '\0';
	*out = buf;
	*out_len = n;
	return 0;
}

static int parse_exec_credential(const char *cmd, const char *buf, size_t len,
				 struct kube_exec_cred *out, struct kube_err *err)
{
	json_object *obj = parse_json(buf, len);
	const char *token, *cert, *key;
	int ret = -EBADMSG;

	if (!obj || !kj_str(obj, "kind") || strcmp(kj_str(obj, "kind"), "ExecCredential") != 0) {
		kube_err_set(err, "credential plugin '%s' did not print an ExecCredential", cmd);
		goto out;
	}
	token = kj_str(obj, "status.token");
	cert = kj_str(obj, "status.clientCertificateData");
	key = kj_str(obj, "status.clientKeyData");
	if (!(token && token[0]) && !(cert && key)) {
		kube_err_set(err,
			     "credential plugin '%s' returned neither a token nor a client "
			     "certificate",
			     cmd);
		goto out;
	}
	ret = -ENOMEM;
	if (token && token[0] && !(out->token = strdup(token)))
		goto out;
	if (cert && key && (!(out->cert_pem = strdup(cert)) || !(out->key_pem = strdup(key))))
		goto out;
	ret = 0;
out:
	if (ret)
		kube_exec_cred_clear(out);
	json_object_put(obj);
	return ret;
}

/* One run of a credential plugin. */
struct plugin_run {
	char *buf; /* its stdout */
	size_t len;
	int read_ret;	/* 0, or why reading stdout failed (-ETIMEDOUT...) */
	int status;	/* its wait status */
	int exec_errno; /* why exec failed; 0 when it ran */
};

/* Forks and runs the plugin, reads its output and reaps it; 0 or -errno (no pipe, no fork). */
static int run_plugin(char **argv, char **envp, struct plugin_run *pr)
{
	int outp[2] = {-1, -1}, errp[2] = {-1, -1};
	int ret = 0;
	pid_t pid;

	if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		ret = -errno;
		goto out;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		goto out;
	}
	if (pid == 0)
		exec_child(outp[1], errp[1], argv, envp);
	close(outp[1]);
	close(errp[1]);
	outp[1] = errp[1] = -1;
	pr->read_ret = read_plugin_output(outp[0], &pr->buf, &pr->len);
	if (pr->read_ret)
		kill(pid, SIGKILL);
	while (waitpid(pid, &pr->status, 0) < 0 && errno == EINTR)
		;
	if (read(errp[0], &pr->exec_errno, sizeof(pr->exec_errno)) != sizeof(pr->exec_errno))
		pr->exec_errno = 0;
out:
	for (int i = 0; i < 2; i++) {
		if (outp[i] >= 0)
			close(outp[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	return ret;
}

/* Why the plugin's run gave no credential (in ERR, with the install hint), or 0. */
static int plugin_failure(const struct kube_exec *x, const struct plugin_run *pr,
			  struct kube_err *err)
{
	if (pr->exec_errno) {
		kube_err_set(err, "cannot run credential plugin '%s': %s", x->command,
			     strerror(pr->exec_errno));
		if (x->install_hint)
			kube_err_hint(err, "%s", x->install_hint);
		return -pr->exec_errno;
	}
	if (pr->read_ret) {
		kube_err_set(err, "credential plugin '%s' %s", x->command,
			     pr->read_ret == -ETIMEDOUT ? "did not finish in time" : "failed");
		return pr->read_ret;
	}
	if (!WIFEXITED(pr->status) || WEXITSTATUS(pr->status) != 0) {
		kube_err_set(err, "credential plugin '%s' failed (exit status %d)", x->command,
			     WIFEXITED(pr->status) ? WEXITSTATUS(pr->status)
						   : 128 + WTERMSIG(pr->status));
		if (x->install_hint)
			kube_err_hint(err, "%s", x->install_hint);
		return -EIO;
	}
	return 0;
}

int kube_exec_credential(const struct kubeconfig *kc, struct kube_exec_cred *out,
			 struct kube_err *err)
{
	const struct kube_exec *x = kc->exec;
	const char *api = x && x->api_version ? x->api_version : KUBE_EXEC_DEFAULT_API;
	struct plugin_run pr = {.buf = NULL};
	char *info = NULL, *info_env = NULL;
	char **argv = NULL, **envp = NULL;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!x)
		return -EINVAL;
	if (asprintf(&info,
		     "{\"apiVersion\":\"%s\",\"kind\":\"ExecCredential\",\"spec\":{"
		     "\"interactive\":%s}}",
		     api, isatty(STDIN_FILENO) ? "true" : "false") < 0) {
		info = NULL;
		return -ENOMEM;
	}
	ret = exec_vectors(x, info, &argv, &envp, &info_env);
	if (!ret)
		ret = run_plugin(argv, envp, &pr);
	if (!ret)
		ret = plugin_failure(x, &pr, err);
	if (!ret)
		ret = parse_exec_credential(x->command, pr.buf, pr.len, out, err);
	if (pr.buf)
		explicit_bzero(pr.buf, pr.len);
	free(pr.buf);
	free(envp);
	free(argv);
	free(info_env);
	free(info);
	return ret;
}

/* ---- the client ------------------------------------------------------------------ */

static int read_token_file(const char *path, char **out, struct kube_err *err)
{
	size_t n = 0;
	char *buf = NULL;
	int rc = readfile_at(AT_FDCWD, path, KUBE_TOKEN_MAX, 0, &buf, &n);

	if (rc) {
		kube_err_set(err, "cannot read tokenFile %s: %s", path, strerror(-rc));
		return rc;
	}
	while (n > 0 && strchr(" \t\r\n", buf[n - 1]))
		buf[--n] = '\0';
	*out = buf;
	return 0;
}

static int set_blob(CURL *curl, CURLoption opt, const void *data, size_t len)
{
	struct curl_blob blob = {.data = (void *)data, .len = len, .flags = CURL_BLOB_COPY};

	return curl_easy_setopt(curl, opt, &blob) == CURLE_OK ? 0 : -ENOTSUP;
}

/*
 * tls-server-name: curl checks the certificate against the URL's host, so
 * the URL names that host and CURLOPT_CONNECT_TO sends the connection to the
 * real address.
 */
static int setup_server(struct kube_client *c, const struct kubeconfig *kc,
			struct curl_slist **connect_to)
{
	CURLU *u = NULL;
	char *host = NULL, *port = NULL, *url = NULL, *entry = NULL;
	int ret = -ENOMEM;

	c->display_server = strdup(kc->server);
	if (!c->display_server)
		return -ENOMEM;
	if (!kc->tls_server_name || kc->insecure) {
		c->server = strdup(kc->server);
		return c->server ? 0 : -ENOMEM;
	}
	u = curl_url();
	if (!u)
		goto out;
	ret = -EINVAL;
	if (curl_url_set(u, CURLUPART_URL, kc->server, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_HOST, kc->tls_server_name, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK)
		goto out;
	ret = -ENOMEM;
	if (asprintf(&entry, "%s:%s:%s:%s", kc->tls_server_name, port, host, port) < 0) {
		entry = NULL;
		goto out;
	}
	*connect_to = curl_slist_append(NULL, entry);
	c->server = strdup(url);
	if (!*connect_to || !c->server)
		goto out;
	/* curl_url_get() adds a '/' path; requests add their own. */
	if (c->server[0] && c->server[strlen(c->server) - 1] == '/')
		c->server[strlen(c->server) - 1] = '\0';
	ret = 0;
out:
	free(entry);
	curl_free(url);
	curl_free(port);
	curl_free(host);
	curl_url_cleanup(u);
	return ret;
}

static int setup_tls(struct kube_client *c, const struct kubeconfig *kc,
		     const struct kube_exec_cred *cred)
{
	CURL *h = c->curl;
	int ret = 0;

	if (kc->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	} else if (kc->ca_data.data) {
		ret = set_blob(h, CURLOPT_CAINFO_BLOB, kc->ca_data.data, kc->ca_data.len);
	} else if (kc->ca_file) {
		curl_easy_setopt(h, CURLOPT_CAINFO, kc->ca_file);
	}
	if (ret)
		return ret;
	if (cred && cred->cert_pem) {
		ret = set_blob(h, CURLOPT_SSLCERT_BLOB, cred->cert_pem, strlen(cred->cert_pem));
		if (!ret)
			ret =
			    set_blob(h, CURLOPT_SSLKEY_BLOB, cred->key_pem, strlen(cred->key_pem));
	} else {
		if (kc->cert_data.data)
			ret = set_blob(h, CURLOPT_SSLCERT_BLOB, kc->cert_data.data,
				       kc->cert_data.len);
		else if (kc->cert_file)
			curl_easy_setopt(h, CURLOPT_SSLCERT, kc->cert_file);
		if (!ret && kc->key_data.data)
			ret = set_blob(h, CURLOPT_SSLKEY_BLOB, kc->key_data.data, kc->key_data.len);
		else if (!ret && kc->key_file)
			curl_easy_setopt(h, CURLOPT_SSLKEY, kc->key_file);
	}
	curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
	curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
	return ret;
}

static int add_header(struct kube_client *c, const char *fmt, const char *value)
{
	struct curl_slist *l;
	char *h;

	if (asprintf(&h, fmt, value) < 0)
		return -ENOMEM;
	l = curl_slist_append(c->headers, h);
	explicit_bzero(h, strlen(h));
	free(h);
	if (!l)
		return -ENOMEM;
	c->headers = l;
	return 0;
}

/* Picks the bearer token: tokenFile, token, then the exec plugin. */
static int setup_auth(struct kube_client *c, const struct kubeconfig *kc,
		      struct kube_exec_cred *cred, struct kube_err *err)
{
	char *token = NULL;
	int ret = 0;

	if (kc->token_file) {
		ret = read_token_file(kc->token_file, &token, err);
		if (ret)
			return ret;
	} else if (kc->token) {
		token = strdup(kc->token);
		if (!token)
			return -ENOMEM;
	} else if (kc->exec && !kc->cert_data.data && !kc->cert_file) {
		ret = kube_exec_credential(kc, cred, err);
		if (ret)
			return ret;
		if (cred->token && !(token = strdup(cred->token)))
			return -ENOMEM;
	} else if (kc->username && kc->password) {
		curl_easy_setopt(c->curl, CURLOPT_USERNAME, kc->username);
		curl_easy_setopt(c->curl, CURLOPT_PASSWORD, kc->password);
	}
	if (token) {
		ret = add_header(c, "Authorization: Bearer %s", token);
		explicit_bzero(token, strlen(token));
		free(token);
	}
	return ret;
}

struct kube_client *kube_client_new(const struct kubeconfig *kc, struct kube_err *err)
{
	static bool curl_ready;
	struct kube_exec_cred cred = {0};
	struct curl_slist *connect_to = NULL;
	struct kube_client *c;
	int ret = -ENOMEM;

	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			kube_err_set(err, "cannot initialise libcurl");
			errno = EIO;
			return NULL;
		}
		curl_ready = true;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	c->curl = curl_easy_init();
	if (!c->curl)
		goto fail;
	ret = setup_server(c, kc, &connect_to);
	if (ret) {
		if (ret == -EINVAL)
			kube_err_set(err, "cannot parse server URL %s", kc->server);
		goto fail;
	}
	/* curl reads the list at each transfer: the client keeps it. */
	c->connect_to = connect_to;
	connect_to = NULL;
	if (c->connect_to)
		curl_easy_setopt(c->curl, CURLOPT_CONNECT_TO, c->connect_to);
	ret = setup_auth(c, kc, &cred, err);
	if (ret)
		goto fail;
	ret = setup_tls(c, kc, &cred);
	if (ret) {
		kube_err_set(err, "this libcurl cannot take certificates from memory");
		goto fail;
	}
	ret = add_header(c, "Accept: %s", "application/json");
	if (ret)
		goto fail;
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "bpfmirror/" BPFMIRROR_VERSION);
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, KUBE_CONNECT_TIMEOUT_S);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, KUBE_REQUEST_TIMEOUT_S);
	curl_easy_setopt(c->curl, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf);
	kube_exec_cred_clear(&cred);
	return c;
fail:
	kube_exec_cred_clear(&cred);
	curl_slist_free_all(connect_to);
	kube_client_free(c);
	if (err && !err->msg[0])
		kube_err_set(err, "cannot set up the API client: %s", strerror(-ret));
	errno = -ret;
	return NULL;
}

void kube_client_free(struct kube_client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	curl_slist_free_all(c->connect_to);
	/* The list holds the Authorization header. */
	for (struct curl_slist *l = c->headers; l; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(c->headers);
	free(c->server);
	free(c->display_server);
	free(c);
}

const char *kube_client_server(const struct kube_client *c)
{
	return c->display_server;
}

struct body {
	char *data;
	size_t len;
	size_t cap;
	bool too_big;
};

static size_t body_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct body *b = userdata;
	size_t n = size * nmemb;

	if (b->len + n + 1 > KUBE_MAX_BODY) {
		b->too_big = true;
		return 0;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		char *nd;

		while (cap < b->len + n + 1)
			cap *= 2;
		nd = realloc(b->data, cap);
		if (!nd)
			return 0;
		b->data = nd;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

static int transport_error(struct kube_client *c, CURLcode rc, struct kube_err *err)
{
	const char *detail = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
	int ret;

	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		ret = -EHOSTUNREACH;
		break;
	case CURLE_COULDNT_CONNECT:
		ret = -ECONNREFUSED;
		break;
	case CURLE_OPERATION_TIMEDOUT:
		ret = -ETIMEDOUT;
		break;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		/* TLS 1.3 reports a refused client certificate after the handshake. */
		if (!strstr(detail, "SSL") && !strstr(detail, "certificate")) {
			ret = -EIO;
			break;
		}
		/* fallthrough */
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CLIENTCERT:
		ret = -EPROTO;
		kube_err_set(err, "TLS with the API server at %s failed: %s", c->display_server,
			     detail);
		kube_err_hint(err, "check certificate-authority(-data) and the client "
				   "certificate in the kubeconfig");
		return ret;
	default:
		ret = -EIO;
		break;
	}
	kube_err_set(err, "cannot reach the API server at %s: %s", c->display_server, detail);
	kube_err_hint(err, "is the cluster up and the kubeconfig's server address right?");
	return ret;
}

int kube_get(struct kube_client *c, const char *path, json_object **out, struct kube_err *err)
{
	struct body b = {0};
	char *url = NULL, *what = NULL;
	long code = 0;
	CURLcode rc;
	int ret;

	*out = NULL;
	if (asprintf(&url, "%s%s", c->server, path) < 0) {
		url = NULL;
		ret = -ENOMEM;
		goto out;
	}
	c->errbuf[0] = '\0';
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &b);
	log_debug("kube: GET %s", path);
	rc = curl_easy_perform(c->curl);
	if (b.too_big) {
		ret = -EFBIG;
		kube_err_set(err, "GET %s: the answer is larger than %u MiB", path,
			     KUBE_MAX_BODY >> 20);
		goto out;
	}
	if (rc != CURLE_OK) {
		ret = transport_error(c, rc, err);
		goto out;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &code);
	if (code < 200 || code > 299) {
		if (asprintf(&what, "GET %s", path) < 0)
			what = NULL;
		ret = kube_status_error(code, b.data, b.len, what ? what : path, err);
		goto out;
	}
	*out = parse_json(b.data ? b.data : "", b.len);
	if (!*out) {
		ret = -EBADMSG;
		kube_err_set(err, "GET %s: the API server's answer is not JSON", path);
		goto out;
	}
	ret = 0;
out:
	free(what);
	free(b.data);
	free(url);
	return ret;
}

/* Appends "/namespaces/NS" when NS is set: the path of a namespaced resource. */
static int base_path(struct kube_client *c, const char *group_version, const char *ns,
		     const char *resource, char **out)
{
	char *ens = NULL;
	int r;

	if (ns) {
		ens = curl_easy_escape(c->curl, ns, 0);
		if (!ens)
			return -ENOMEM;
	}
	r = asprintf(out, "/%s/%s%s%s/%s", strcmp(group_version, "v1") == 0 ? "api" : "apis",
		     group_version, ens ? "/namespaces/" : "", ens ? ens : "", resource);
	curl_free(ens);
	if (r < 0) {
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

int kube_get_object(struct kube_client *c, const char *group_version, const char *ns,
		    const char *resource, const char *name, json_object **out, struct kube_err *err)
{
	char *base = NULL, *path = NULL, *ename = NULL;
	int ret;

	*out = NULL;
	ret = base_path(c, group_version, ns, resource, &base);
	if (ret)
		goto out;
	ret = -ENOMEM;
	ename = curl_easy_escape(c->curl, name, 0);
	if (!ename || asprintf(&path, "%s/%s", base, ename) < 0) {
		path = NULL;
		goto out;
	}
	ret = kube_get(c, path, out, err);
out:
	free(path);
	curl_free(ename);
	free(base);
	return ret;
}

/* Appends the items of PAGE to the items array of ALL. */
static int merge_items(json_object *all, json_object *page)
{
	json_object *dst = kj_get(all, "items");
	size_t n = kj_len(page, "items");

	if (!dst || !json_object_is_type(dst, json_type_array))
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		json_object *it = kj_idx(page, "items", i);

		if (json_object_array_add(dst, json_object_get(it)) < 0) {
			json_object_put(it);
			return -ENOMEM;
		}
	}
	return 0;
}

int kube_list(struct kube_client *c, const char *group_version, const char *ns,
	      const char *resource, const char *label_selector, const char *field_selector,
	      json_object **out, struct kube_err *err)
{
	char *base = NULL, *path = NULL, *el = NULL, *ef = NULL, *econt = NULL;
	json_object *page = NULL;
	int ret;

	*out = NULL;
	ret = base_path(c, group_version, ns, resource, &base);
	if (ret)
		goto out;
	ret = -ENOMEM;
	if (label_selector && !(el = curl_easy_escape(c->curl, label_selector, 0)))
		goto out;
	if (field_selector && !(ef = curl_easy_escape(c->curl, field_selector, 0)))
		goto out;
	/* Pages of KUBE_LIST_PAGE items, joined into the first page's list. */
	for (unsigned pages = 0; pages < KUBE_LIST_MAX_PAGES; pages++) {
		const char *cont;
		bool more;

		if (asprintf(&path, "%s?limit=%u%s%s%s%s%s%s", base, KUBE_LIST_PAGE,
			     el ? "&labelSelector=" : "", el ? el : "", ef ? "&fieldSelector=" : "",
			     ef ? ef : "", econt ? "&continue=" : "", econt ? econt : "") < 0) {
			path = NULL;
			ret = -ENOMEM;
			goto out;
		}
		ret = kube_get(c, path, &page, err);
		free(path);
		path = NULL;
		if (ret)
			goto out;
		if (!*out) {
			*out = page;
		} else {
			ret = merge_items(*out, page);
			if (ret) {
				kube_err_set(err, "a page of %s has no item list", resource);
				goto out;
			}
		}
		cont = kj_str(page, "metadata.continue");
		more = cont && cont[0];
		curl_free(econt);
		econt = more ? curl_easy_escape(c->curl, cont, 0) : NULL;
		if (page != *out)
			json_object_put(page);
		page = NULL;
		if (!more || !econt) {
			ret = more ? -ENOMEM : 0;
			goto out;
		}
	}
	ret = -EFBIG;
	kube_err_set(err, "listing %s took more than %u pages", resource, KUBE_LIST_MAX_PAGES);
out:
	if (page != *out)
		json_object_put(page);
	if (ret) {
		json_object_put(*out);
		*out = NULL;
	}
	curl_free(econt);
	free(path);
	curl_free(ef);
	curl_free(el);
	free(base);
	return ret;
}

int kube_open(const char *kubeconfig_path, const char *context, const char *ns_flag,
	      struct kube_client **out, char **ns, struct kube_err *err)
{
	struct kubeconfig *kc;
	int ret = 0;

	*out = NULL;
	*ns = NULL;
	kc = kubeconfig_open(kubeconfig_path, context, err);
	if (!kc)
		return -errno;
	*ns = strdup(ns_flag && ns_flag[0] ? ns_flag : kc->namespace);
	if (!*ns) {
		ret = -ENOMEM;
		goto out;
	}
	log_debug("kube: context %s, server %s, namespace %s", kc->context, kc->server, *ns);
	*out = kube_client_new(kc, err);
	if (!*out) {
		ret = -errno;
		free(*ns);
		*ns = NULL;
	}
out:
	kubeconfig_free(kc);
	return ret;
}

bool kube_flags_take(struct kube_flags *f, int opt, const char *arg)
{
	switch (opt) {
	case 'n':
		f->ns = arg;
		return true;
	case 'k':
		f->kubeconfig = arg;
		return true;
	case 'c':
		f->context = arg;
		return true;
	default:
		return false;
	}
}
