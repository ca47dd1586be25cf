/* Minimal HTTP/1.1 server shared by the demo apps: a thread per connection, keep-alive, bounded
 * buffers. */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define IDLE_TIMEOUT_SEC 30

static atomic_int active_conns;

struct conn {
	int fd;
	char peer[64];
	const struct httpd_ops *ops;
};

void reply_printf(struct http_reply *rep, const char *fmt, ...)
{
	size_t room = sizeof(rep->body) - rep->len;
	va_list ap;
	int n;

	if (room <= 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(rep->body + rep->len, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	rep->len += (size_t)n < room ? (size_t)n : room - 1;
}

void reply_json_string(struct http_reply *rep, const char *s)
{
	reply_printf(rep, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			reply_printf(rep, "\\%c", c);
		else if (c == '\n')
			reply_printf(rep, "\\n");
		else if (c == '\r')
			reply_printf(rep, "\\r");
		else if (c == '\t')
			reply_printf(rep, "\\t");
		else if (c < 0x20)
			reply_printf(rep, "\\u%04x", c);
		else
			reply_printf(rep, "%c", c);
	}
	reply_printf(rep, "\"");
}

int env_int(const char *name, int def)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (!v || !*v)
		return def;
	n = strtol(v, &end, 10);
	if (*end || n < 0 || n > 1000000000)
		return def;
	return (int)n;
}

static const char *status_text(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Payload Too Large";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	default:
		return "Error";
	}
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_reply(int fd, const struct http_reply *rep, int keep_alive)
{
	char head[256];
	int n;

	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
		     "Content-Length: %zu\r\nConnection: %s\r\n\r\n",
		     rep->status, status_text(rep->status), rep->len,
		     keep_alive ? "keep-alive" : "close");
	if (write_all(fd, head, (size_t)n) < 0)
		return -EIO;
	return write_all(fd, rep->body, rep->len);
}

static void copy_value(char *dst, size_t size, const char *v, size_t len)
{
	size_t i, j = 0;

	while (len > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	for (i = 0; i < len && j + 1 < size; i++)
		if ((unsigned char)v[i] >= 0x20 && v[i] != 0x7f)
			dst[j++] = v[i];
	dst[j] = '\0';
}

/* Parses the head in buf (NUL-terminated, ends with CRLFCRLF); returns 0, -EINVAL or -E2BIG. */
static int parse_head(char *buf, struct http_request *req, long *body_len)
{
	char *line = buf, *eol, *sp1, *sp2;
	int http11;

	eol = strstr(line, "\r\n");
	if (!eol)
		return -EINVAL;
	*eol = '\0';
	sp1 = strchr(line, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || sp1 == line || (size_t)(sp1 - line) >= sizeof(req->method) ||
	    (size_t)(sp2 - sp1 - 1) >= sizeof(req->path) || sp2 == sp1 + 1)
		return -EINVAL;
	memcpy(req->method, line, (size_t)(sp1 - line));
	req->method[sp1 - line] = '\0';
	memcpy(req->path, sp1 + 1, (size_t)(sp2 - sp1 - 1));
	req->path[sp2 - sp1 - 1] = '\0';
	if (strcmp(sp2 + 1, "HTTP/1.1") == 0)
		http11 = 1;
	else if (strcmp(sp2 + 1, "HTTP/1.0") == 0)
		http11 = 0;
	else
		return -EINVAL;
	req->keep_alive = http11;
	req->tenant[0] = '\0';
	req->user_agent[0] = '\0';
	*body_len = 0;

	for (line = eol + 2; *line; line = eol + 2) {
		char *colon;
		size_t vlen;

		eol = strstr(line, "\r\n");
		if (!eol)
			return -EINVAL;
		*eol = '\0';
		if (eol == line)
			break;
		colon = strchr(line, ':');
		if (!colon || colon == line)
			return -EINVAL;
		*colon = '\0';
		vlen = (size_t)(eol - colon - 1);
		if (strcasecmp(line, "X-PG-Tenant") == 0) {
			copy_value(req->tenant, sizeof(req->tenant), colon + 1, vlen);
		} else if (strcasecmp(line, "User-Agent") == 0) {
			copy_value(req->user_agent, sizeof(req->user_agent), colon + 1, vlen);
		} else if (strcasecmp(line, "Connection") == 0) {
			char v[32];

			copy_value(v, sizeof(v), colon + 1, vlen);
			if (strcasecmp(v, "close") == 0)
				req->keep_alive = 0;
			else if (strcasecmp(v, "keep-alive") == 0)
				req->keep_alive = 1;
		} else if (strcasecmp(line, "Content-Length") == 0) {
			char v[32], *end;

			copy_value(v, sizeof(v), colon + 1, vlen);
			*body_len = strtol(v, &end, 10);
			if (!v[0] || *end || *body_len < 0)
				return -EINVAL;
			if (*body_len > HTTPD_MAX_BODY)
				return -E2BIG;
		} else if (strcasecmp(line, "Transfer-Encoding") == 0) {
			return -EINVAL; /* chunked bodies are not needed by the demo */
		}
	}
	return 0;
}

static void log_request(const struct http_request *req, int status)
{
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%s client=%s \"%s %s\" %d ua=\"%s\"%s%s\n", ts, req->peer,
	       req->method[0] ? req->method : "-", req->path[0] ? req->path : "-", status,
	       req->user_agent, req->tenant[0] ? " tenant=" : "", req->tenant);
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	const size_t bufsize = HTTPD_MAX_HEADER + HTTPD_MAX_BODY + 1;
	struct http_request req;
	struct http_reply *rep;
	size_t have = 0;
	void *ctx = c->ops->conn_open ? c->ops->conn_open() : NULL;
	char *buf = malloc(bufsize);

	rep = malloc(sizeof(*rep));
	if (!rep || !buf)
		goto out;
	for (;;) {
		char *end;
		long body_len;
		size_t head_len, total;
		int err;

		buf[have] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (!end) {
			ssize_t n;

			if (have >= HTTPD_MAX_HEADER) {
				memset(&req, 0, sizeof(req));
				snprintf(req.peer, sizeof(req.peer), "%s", c->peer);
				rep->status = 400;
				rep->len = 0;
				reply_printf(rep, "{\"error\":\"header too large\"}\n");
				log_request(&req, 400);
				send_reply(c->fd, rep, 0);
				break;
			}
			n = recv(c->fd, buf + have, HTTPD_MAX_HEADER - have, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			have += (size_t)n;
			continue;
		}
		head_len = (size_t)(end - buf) + 4;
		memset(&req, 0, sizeof(req));
		snprintf(req.peer, sizeof(req.peer), "%s", c->peer);
		rep->len = 0;
		err = parse_head(buf, &req, &body_len);
		if (err) {
			rep->status = err == -E2BIG ? 413 : 400;
			reply_printf(rep, "{\"error\":\"%s\"}\n",
				     err == -E2BIG ? "body too large" : "bad request");
			log_request(&req, rep->status);
			send_reply(c->fd, rep, 0);
			break;
		}
		total = head_len + (size_t)body_len;
		while (have < total) { /* the body is read and ignored */
			ssize_t n = recv(c->fd, buf + have, bufsize - 1 - have, 0);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				goto out;
			have += (size_t)n;
		}
		rep->status = 200;
		c->ops->handle(&req, rep, ctx);
		log_request(&req, rep->status);
		if (send_reply(c->fd, rep, req.keep_alive) < 0 || !req.keep_alive)
			break;
		memmove(buf, buf + total, have - total);
		have -= total;
	}
out:
	free(buf);
	free(rep);
	if (c->ops->conn_close)
		c->ops->conn_close(ctx);
	close(c->fd);
	free(c);
	atomic_fetch_sub(&active_conns, 1);
	return NULL;
}

int httpd_serve(int port, const struct httpd_ops *ops)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	pthread_attr_t attr;
	int fd, one = 1, err;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0) {
		err = -errno;
		goto err_close;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	printf("listening on 0.0.0.0:%d\n", port);
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		struct timeval tv = {.tv_sec = IDLE_TIMEOUT_SEC};
		struct conn *c;
		pthread_t th;
		int cfd;

		cfd = accept4(fd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
		if (cfd < 0)
			continue;
		if (atomic_fetch_add(&active_conns, 1) >= HTTPD_MAX_CONNS) {
			atomic_fetch_sub(&active_conns, 1);
			close(cfd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			atomic_fetch_sub(&active_conns, 1);
			close(cfd);
			continue;
		}
		setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = cfd;
		c->ops = ops;
		if (peer.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&peer)->sin_addr, c->peer,
				  sizeof(c->peer));
		else if (peer.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&peer)->sin6_addr, c->peer,
				  sizeof(c->peer));
		if (pthread_create(&th, &attr, conn_main, c) != 0) {
			close(cfd);
			free(c);
			atomic_fetch_sub(&active_conns, 1);
		}
	}
	/* not reached */
err_close:
	close(fd);
	return err;
}
