/* ip-info demo service: GET /ip/<ipv4> answers a small JSON description of the address. */
#include "httpd.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *classify(uint32_t a)
{
	if ((a >> 24) == 10 || (a >> 20) == 0xac1 || (a >> 16) == 0xc0a8)
		return "private";
	if ((a >> 24) == 127)
		return "loopback";
	if ((a >> 16) == 0xa9fe)
		return "link-local";
	if ((a >> 28) == 0xe)
		return "multicast";
	return "public";
}

static void handle(const struct http_request *req, struct http_reply *rep, void *ctx)
{
	struct in_addr addr;
	uint32_t a;
	const char *ip;

	(void)ctx;
	if (strcmp(req->method, "GET") != 0) {
		rep->status = 405;
		reply_printf(rep, "{\"error\":\"method not allowed\"}\n");
		return;
	}
	if (strcmp(req->path, "/health") == 0) {
		reply_printf(rep, "{\"status\":\"ok\"}\n");
		return;
	}
	if (strncmp(req->path, "/ip/", 4) != 0) {
		rep->status = 404;
		reply_printf(rep, "{\"error\":\"not found\"}\n");
		return;
	}
	ip = req->path + 4;
	if (inet_pton(AF_INET, ip, &addr) != 1) {
		rep->status = 400;
		reply_printf(rep, "{\"error\":\"not an IPv4 address\"}\n");
		return;
	}
	a = ntohl(addr.s_addr);
	reply_printf(rep, "{\"ip\":\"%s\",\"class\":\"%s\",\"network\":\"%u.%u.%u.0/24\"", ip,
		     classify(a), a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff);
	reply_printf(rep, ",\"tenant\":");
	if (req->tenant[0])
		reply_json_string(rep, req->tenant);
	else
		reply_printf(rep, "null");
	reply_printf(rep, "}");
}

int main(void)
{
	static const struct httpd_ops ops = {.handle = handle};
	int port = env_int("PORT", 8080);
	int err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	err = httpd_serve(port, &ops);
	fprintf(stderr, "ip-info: cannot serve on port %d: %s\n", port, strerror(-err));
	return 1;
}
