/* ip-visit-counter demo service: GET /count returns the caller's IP, its visit count in Redis, a
 * configured text and ip-info's answer. */
#include "httpd.h"
#include "netclient.h"
#include "resp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TEXT_MAX	    4096
#define INFO_MAX	    8192
#define UPSTREAM_TIMEOUT_MS 2000

static struct {
	const char *redis_addr;
	const char *ipinfo_addr;
	int ttl;
	char response[TEXT_MAX];
	char hostname[128];
} cfg;

static void *conn_open(void)
{
	struct resp_conn *rc = calloc(1, sizeof(*rc));

	if (rc)
		rc->fd = -1;
	return rc;
}

static void conn_close(void *ctx)
{
	struct resp_conn *rc = ctx;

	if (rc)
		resp_close(rc);
	free(rc);
}

/* INCR + EXPIRE the caller's key on the connection's Redis link; one reconnect on failure. */
static int count_visit(struct resp_conn *rc, const char *ip, long long *count)
{
	char key[96], ttl[16];
	const char *incr[] = {"INCR", key};
	const char *expire[] = {"EXPIRE", key, ttl};
	long long ignored;
	int attempt, err = -ENOTCONN;

	if (!rc)
		return -ENOMEM;
	snprintf(key, sizeof(key), "visits:%s", ip);
	snprintf(ttl, sizeof(ttl), "%d", cfg.ttl);
	for (attempt = 0; attempt < 2; attempt++) {
		if (rc->fd < 0) {
			err = resp_connect(rc, cfg.redis_addr);
			if (err)
				continue;
		}
		err = resp_send(rc, 2, incr);
		if (!err)
			err = resp_send(rc, 3, expire);
		if (!err)
			err = resp_read_int(rc, count);
		if (!err)
			err = resp_read_int(rc, &ignored);
		if (!err)
			return 0;
		resp_close(rc);
	}
	return err;
}

/* Asks ip-info about ip (forwarding the tenant header); fills out with its JSON body or returns
 * -errno. */
static int ask_ipinfo(const char *ip, const char *tenant, char *out, size_t size)
{
	char req[512], *resp, *body;
	ssize_t n;
	int fd, err = 0;

	resp = malloc(INFO_MAX);
	if (!resp)
		return -ENOMEM;
	fd = net_connect(cfg.ipinfo_addr, UPSTREAM_TIMEOUT_MS);
	if (fd < 0) {
		err = fd;
		goto out_free;
	}
	snprintf(req, sizeof(req),
		 "GET /ip/%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: ip-visit-counter\r\n"
		 "Connection: close\r\n%s%s%s\r\n",
		 ip, cfg.ipinfo_addr, tenant[0] ? "X-PG-Tenant: " : "", tenant,
		 tenant[0] ? "\r\n" : "");
	err = net_send_all(fd, req, strlen(req));
	if (err)
		goto out_close;
	n = net_read_all(fd, resp, INFO_MAX);
	if (n < 0) {
		err = (int)n;
		goto out_close;
	}
	body = strstr(resp, "\r\n\r\n");
	if (strncmp(resp, "HTTP/1.1 200 ", 13) != 0 || !body || body[4] != '{' ||
	    strlen(body + 4) >= size) {
		err = -EPROTO;
		goto out_close;
	}
	snprintf(out, size, "%s", body + 4);
	/* Keep exactly one JSON object: drop trailing whitespace. */
	for (n = (ssize_t)strlen(out); n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '); n--)
		out[n - 1] = '\0';
	if (out[0] == '\0' || out[strlen(out) - 1] != '}')
		err = -EPROTO;
out_close:
	close(fd);
out_free:
	free(resp);
	return err;
}

/* Which build answers: the deployed image or a developer's local build. */
#ifndef BUILD_TAG
#define BUILD_TAG "deployed"
#endif
/* BUILD_TAG, plus " (LOCAL_TAG)" when that variable is set: tells developers' builds apart. */
static char build_tag[128] = BUILD_TAG;

static void handle_count(const struct http_request *req, struct http_reply *rep, void *ctx)
{
	char info[INFO_MAX];
	long long count = 0;
	int err;

	err = count_visit(ctx, req->peer, &count);
	if (err) {
		rep->status = 503;
		reply_printf(rep, "{\"error\":\"redis unavailable: %s\"}\n", strerror(-err));
		return;
	}
	reply_printf(rep, "{\"ip\":");
	reply_json_string(rep, req->peer);
	reply_printf(rep, ",\"count\":%lld,\"response\":", count);
	reply_json_string(rep, cfg.response);
	reply_printf(rep, ",\"pod\":");
	reply_json_string(rep, cfg.hostname);
	reply_printf(rep, ",\"build\":");
	reply_json_string(rep, build_tag);
	if (ask_ipinfo(req->peer, req->tenant, info, sizeof(info)) == 0)
		reply_printf(rep, ",\"info\":%s}\n", info);
	else
		reply_printf(rep, ",\"info\":null}\n");
}

static void handle(const struct http_request *req, struct http_reply *rep, void *ctx)
{
	if (strcmp(req->method, "GET") != 0) {
		rep->status = 405;
		reply_printf(rep, "{\"error\":\"method not allowed\"}\n");
	} else if (strcmp(req->path, "/health") == 0) {
		reply_printf(rep, "{\"status\":\"ok\"}\n");
	} else if (strcmp(req->path, "/count") == 0) {
		handle_count(req, rep, ctx);
	} else {
		rep->status = 404;
		reply_printf(rep, "{\"error\":\"not found\"}\n");
	}
}

/* Reads the response text once at start; a missing file is an error (the ConfigMap must be
 * mounted). */
static int load_response(const char *path)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -errno;
	n = fread(cfg.response, 1, sizeof(cfg.response) - 1, f);
	fclose(f);
	while (n > 0 && (cfg.response[n - 1] == '\n' || cfg.response[n - 1] == '\r'))
		n--;
	cfg.response[n] = '\0';
	return 0;
}

int main(void)
{
	static const struct httpd_ops ops = {
	    .handle = handle,
	    .conn_open = conn_open,
	    .conn_close = conn_close,
	};
	const char *file = getenv("RESPONSEFILE");
	int port = env_int("PORT", 8080);
	int err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	cfg.redis_addr = getenv("REDISADDRESS") ? getenv("REDISADDRESS") : "redis-main:6379";
	cfg.ipinfo_addr = getenv("IPINFOADDRESS") ? getenv("IPINFOADDRESS") : "ip-info:80";
	cfg.ttl = env_int("VISIT_TTL", 3600);
	if (gethostname(cfg.hostname, sizeof(cfg.hostname) - 1) < 0)
		snprintf(cfg.hostname, sizeof(cfg.hostname), "unknown");
	if (file) {
		err = load_response(file);
		if (err) {
			fprintf(stderr, "ip-visit-counter: cannot read RESPONSEFILE %s: %s\n", file,
				strerror(-err));
			return 1;
		}
	}
	if (getenv("LOCAL_TAG") && getenv("LOCAL_TAG")[0])
		snprintf(build_tag, sizeof(build_tag), "%s (%s)", BUILD_TAG, getenv("LOCAL_TAG"));
	printf("build=%s redis=%s ip-info=%s ttl=%d response=\"%s\"\n", build_tag, cfg.redis_addr,
	       cfg.ipinfo_addr, cfg.ttl, cfg.response);
	err = httpd_serve(port, &ops);
	fprintf(stderr, "ip-visit-counter: cannot serve on port %d: %s\n", port, strerror(-err));
	return 1;
}
