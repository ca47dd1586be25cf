/*
 * libFuzzer target: the agent's request handlers as a client reaches them. Each
 * input is the byte stream of one session: it goes into a real agent (no data
 * plane, a fake /proc with one container) through a socket pair, the agent's
 * event loop runs until it has read everything, and the session ends. The
 * agent must neither crash nor grow: it runs with -rss_limit_mb=128, the
 * chart's memory limit (the FUZZ_RSS_MB line, read by scripts/run-fuzz.sh,
 * which also keeps ASan's quarantine of freed memory small for such targets).
 *
 * The first input byte picks options: bit 0 sends a valid Hello first (so most
 * inputs reach the handlers behind the handshake), bit 1 also attaches to the
 * fake container, bits 2-5 the size of the writes (1..16 KiB steps), bits 6-7
 * how often the rest is sent (1, 64, 1024 or 8192 times, at most 8 MiB), so
 * that a short input can make the frames that cost memory: a 4 MiB batch of
 * empty packets is a length prefix and a few bytes repeated. When repeating,
 * the second byte says how many of the following bytes go once, first.
 */
// FUZZ_SOURCES: agent/agent.c agent/metrics.c agent/tcplisten.c agent/*/*.c
// FUZZ_SOURCES: userspace/lib/*.c build/gen/bpfmirror.pb-c.c
// FUZZ_RSS_MB: 128
#include "agent.h"
#include "agent_priv.h"
#include "log.h"
#include "session_priv.h"
#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define CID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static struct agent *ag;
static char root[64];

static void put(const char *rel, const char *text, size_t len)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	if (!f)
		abort();
	fwrite(text, 1, len, f);
	fclose(f);
}

static void mkd(const char *rel)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	if (mkdir(path, 0755) && errno != EEXIST)
		abort();
}

/* The fake node of test/unit/test_agent_session.c: pid 4242 runs container CID. */
static void make_node(void)
{
	static const char env[] = "PORT=8080\0HOME=/root";
	static const char cg[] =
	    "0::/kubepods/kubepods-besteffort-pod1111_2222.slice/cri-containerd-" CID ".scope\n";
	static const char stat[] = "4242 (app) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 77 0 0\n";
	char path[256], target[256];

	strcpy(root, "/tmp/bmfuzz.XXXXXX");
	if (!mkdtemp(root))
		abort();
	mkd("proc");
	mkd("proc/4242");
	put("proc/4242/cgroup", cg, sizeof(cg) - 1);
	put("proc/4242/stat", stat, sizeof(stat) - 1);
	put("proc/4242/environ", env, sizeof(env));
	mkd("podlogs");
	mkd("podlogs/default_app-1_1111-2222");
	mkd("root");
	mkd("root/etc");
	put("root/etc/resolv.conf", "nameserver 10.96.0.10\n", 22);
	snprintf(path, sizeof(path), "%s/proc/4242/root", root);
	snprintf(target, sizeof(target), "%s/root", root);
	if (symlink(target, path) && errno != EEXIST)
		abort();
}

static void remove_node(void)
{
	char cmd[128];

	agent_free(ag);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", root);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char proc[128], logs[128];
	struct agent_opts o = {0};

	(void)argc;
	(void)argv;
	make_node();
	snprintf(proc, sizeof(proc), "%s/proc", root);
	snprintf(logs, sizeof(logs), "%s/podlogs", root);
	o.listen = "127.0.0.1:0";
	o.metrics = "";
	o.proc_root = proc;
	o.pod_logs = logs;
	o.no_datapath = true;
	o.node_name = "fuzz-node";
	o.heartbeat_ms = 60000;
	log_set_level(LOG_LVL_ERROR);
	signal(SIGPIPE, SIG_IGN); /* the agent may close a session we still write to */
	ag = agent_new(&o);
	if (!ag)
		abort();
	atexit(remove_node);
	return 0;
}

/* Appends one encoded frame (header + payload) of F to BUF at *LEN. */
static void add_frame(uint8_t *buf, size_t *len, Bpfmirror__Frame *f)
{
	size_t n = bpfmirror__frame__get_packed_size(f);

	frame_put_header(buf + *len, n, UINT32_MAX);
	bpfmirror__frame__pack(f, buf + *len + FRAME_HDR_LEN);
	*len += FRAME_HDR_LEN + n;
}

/* A valid Hello, and with ATTACH a mirror attach to the fake container. */
static size_t preamble(uint8_t *buf, bool attach)
{
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT;
	Bpfmirror__Hello h = BPFMIRROR__HELLO__INIT;
	Bpfmirror__AttachRequest a = BPFMIRROR__ATTACH_REQUEST__INIT;
	Bpfmirror__Target t = BPFMIRROR__TARGET__INIT;
	static char *caps[] = {BPFMIRROR_CAP_PACKET_ZLIB}, *ips[] = {"10.244.0.5"};
	size_t len = 0;

	h.protocol_version = BPFMIRROR_PROTOCOL_VERSION;
	h.capabilities = caps;
	h.n_capabilities = 1;
	h.client_identity = "fuzz@test";
	f.request_id = 1;
	f.body_case = BPFMIRROR__FRAME__BODY_HELLO;
	f.hello = &h;
	add_frame(buf, &len, &f);
	if (!attach)
		return len;
	t.namespace_ = "default";
	t.pod_name = "app-1";
	t.pod_uid = "1111-2222";
	t.pod_ips = ips;
	t.n_pod_ips = 1;
	t.container_id = "containerd://" CID;
	a.target = &t;
	f.request_id = 2;
	f.body_case = BPFMIRROR__FRAME__BODY_ATTACH_REQUEST;
	f.attach_request = &a;
	add_frame(buf, &len, &f);
	return len;
}

/* Reads and drops what the agent sent, so its writer never stalls on us. */
static void drain(int fd)
{
	static uint8_t sink[1 << 16];

	while (read(fd, sink, sizeof(sink)) > 0)
		;
}

/* Feeds DATA into the session behind PEER in CHUNK-sized writes, the loop running between. */
static void feed(int peer, const uint8_t *data, size_t size, size_t chunk)
{
	size_t pos = 0;
	ssize_t n;

	while (pos < size) {
		n = write(peer, data + pos, size - pos < chunk ? size - pos : chunk);
		if (n < 0 && errno != EAGAIN)
			return; /* the agent closed the session */
		if (n > 0)
			pos += (size_t)n;
		evloop_run_once(ag->loop, 0);
		drain(peer);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t reps_of[] = {1, 64, 1024, 8192};
	static uint8_t pre[1024];
	struct session *s;
	size_t npre, chunk, reps, once = 0;
	uint32_t sid;
	int sv[2];

	if (size < 1)
		return 0;
	chunk = (size_t)((data[0] >> 2) & 0xf) * 1024 + 1024;
	npre = data[0] & 1 ? preamble(pre, data[0] & 2) : 0;
	reps = reps_of[data[0] >> 6];
	data++;
	size--;
	if (reps > 1 && size) {
		once = data[0] < size - 1 ? data[0] : size - 1;
		data++;
		size--;
	}
	if (size && reps > (8u << 20) / size)
		reps = (8u << 20) / size;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
		abort();
	s = session_new(ag, sv[0]);
	if (!s)
		abort();
	sid = s->id;
	feed(sv[1], pre, npre, chunk);
	feed(sv[1], data, once, chunk);
	for (size_t i = 0; i < reps && session_find(ag, sid); i++)
		feed(sv[1], data + once, size - once, chunk);
	/* The end of the stream, then let the agent take everything. */
	shutdown(sv[1], SHUT_WR);
	for (int i = 0; i < 64 && session_find(ag, sid); i++) {
		evloop_run_once(ag->loop, 0);
		drain(sv[1]);
	}
	s = session_find(ag, sid);
	if (s)
		session_close(s, "fuzz input done");
	close(sv[1]);
	/* Whatever the input, nothing stays charged to the shared budgets. */
	if (ag->in_budget.used || ag->out_budget.used || ag->sessions)
		abort();
	return 0;
}
