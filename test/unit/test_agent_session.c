/* Agent session tests over a real socket: handshake, attach, policy, files, bad frames. */
#include "agent.h"
#include "client.h"
#include "log.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#define CID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char tmp[64], addr[64];
static pid_t agent_pid;

static void put(const char *rel, const char *text, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmp, rel);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fwrite(text, 1, len, f);
	fclose(f);
}

static void puts_(const char *rel, const char *text)
{
	put(rel, text, strlen(text));
}

static void mkd(const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", tmp, rel);
	ck_assert_int_eq(mkdir(path, 0755), 0);
}

static int free_port(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static void setup(void)
{
	static const char env[] = "PORT=8080\0API_TOKEN=s3cret\0REDISADDRESS=redis-main:6379";
	static const char policy[] = "version: 1\n"
				     "namespaces:\n  deny: [kube-system]\n"
				     "steal:\n  allow_whole_connection: false\n"
				     "files:\n  denied_paths: [/var/run/secrets/**]\n"
				     "env:\n  denied_names: [API_*]\n";
	char path[512], target[512], proc[300], pol[300], logs[300];
	struct agent_opts o = {0};

	strcpy(tmp, "/tmp/bmagent.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	mkd("proc");
	mkd("proc/4242");
	puts_("proc/4242/cgroup",
	      "0::/kubepods/kubepods-besteffort-pod1b2c3d4e_0000_4111_8222_123456789abc.slice/"
	      "cri-containerd-" CID ".scope\n");
	mkd("podlogs");
	mkd("podlogs/default_app-1_1b2c3d4e-0000-4111-8222-123456789abc");
	puts_("proc/4242/stat", "4242 (app) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 77 0 0\n");
	put("proc/4242/environ", env, sizeof(env));
	mkd("root");
	mkd("root/etc");
	mkd("root/app");
	mkd("root/var");
	mkd("root/var/run");
	mkd("root/var/run/secrets");
	puts_("root/etc/resolv.conf", "nameserver 10.96.0.10\n");
	puts_("root/app/response.txt", "hello from the pod\n");
	puts_("root/var/run/secrets/token", "tok");
	snprintf(path, sizeof(path), "%s/root/app/tok", tmp);
	ck_assert_int_eq(symlink("/var/run/secrets/token", path), 0);
	snprintf(path, sizeof(path), "%s/proc/4242/root", tmp);
	snprintf(target, sizeof(target), "%s/root", tmp);
	ck_assert_int_eq(symlink(target, path), 0);
	put("policy.yaml", policy, sizeof(policy) - 1);

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", free_port());
	snprintf(proc, sizeof(proc), "%s/proc", tmp);
	snprintf(pol, sizeof(pol), "%s/policy.yaml", tmp);
	snprintf(logs, sizeof(logs), "%s/podlogs", tmp);
	agent_pid = fork();
	ck_assert_int_ge(agent_pid, 0);
	if (agent_pid == 0) {
		struct agent *ag;
		o.listen = addr;
		o.proc_root = proc;
		o.pod_logs = logs;
		o.policy_path = pol;
		o.no_datapath = true;
		o.node_name = "test-node";
		o.heartbeat_ms = 300;
		o.max_sessions = 8;
		log_set_level(LOG_LVL_ERROR);
		ag = agent_new(&o);
		if (!ag)
			_exit(3);
		agent_run(ag);
		agent_free(ag);
		_exit(0);
	}
	usleep(200000);
}

static void teardown(void)
{
	char cmd[128];

	if (agent_pid > 0) {
		kill(agent_pid, SIGKILL);
		waitpid(agent_pid, NULL, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	ck_assert_int_eq(system(cmd), 0);
}

static struct bm_client *connect_ok(void)
{
	char err[256];
	struct bm_client *c = client_connect(addr, "tester@test", 2000, err, sizeof(err));

	ck_assert_msg(c != NULL, "connect: %s", err);
	ck_assert_str_eq(client_node_name(c), "test-node");
	return c;
}

/* port_range_size of the next attach request (0: the agent's default). */
static uint32_t next_range_size;

static Bpfmirror__Frame *attach_uid(struct bm_client *c, const char *ns, const char *cid,
				    bool steal, const char *uid)
{
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT, *r = NULL;
	Bpfmirror__AttachRequest a = BPFMIRROR__ATTACH_REQUEST__INIT;
	Bpfmirror__Target t = BPFMIRROR__TARGET__INIT;
	char *ips[] = {(char *)"10.244.0.5"};
	uint32_t ports[] = {8080};

	t.namespace_ = (char *)ns;
	t.pod_name = (char *)"app-1";
	t.pod_uid = (char *)uid;
	t.pod_ips = ips;
	t.n_pod_ips = 1;
	t.container_id = (char *)cid;
	a.target = &t;
	a.ports = ports;
	a.n_ports = 1;
	a.mode = steal ? BPFMIRROR__MODE__MODE_STEAL : BPFMIRROR__MODE__MODE_MIRROR;
	a.port_range_size = next_range_size;
	f.body_case = BPFMIRROR__FRAME__BODY_ATTACH_REQUEST;
	f.attach_request = &a;
	ck_assert_int_eq(client_request(c, &f, 2000, &r), 0);
	return r;
}

static Bpfmirror__Frame *file_op(struct bm_client *c, Bpfmirror__FileRequest__Op op,
				 const char *path)
{
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT, *r = NULL;
	Bpfmirror__FileRequest q = BPFMIRROR__FILE_REQUEST__INIT;

	q.op = op;
	q.path = (char *)path;
	q.length = 4096;
	f.body_case = BPFMIRROR__FRAME__BODY_FILE_REQUEST;
	f.file_request = &q;
	ck_assert_int_eq(client_request(c, &f, 2000, &r), 0);
	ck_assert_int_eq(r->body_case, BPFMIRROR__FRAME__BODY_FILE_REPLY);
	return r;
}

static Bpfmirror__Frame *attach(struct bm_client *c, const char *ns, const char *cid, bool steal)
{
	return attach_uid(c, ns, cid, steal, "1b2c3d4e-0000-4111-8222-123456789abc");
}

START_TEST(claims_must_match_the_node)
{
	struct bm_client *c = connect_ok();
	Bpfmirror__Frame *r;

	/* Another pod's UID for this container. */
	r = attach_uid(c, "default", CID, false, "99999999-0000-4111-8222-123456789abc");
	ck_assert_int_eq(r->body_case, BPFMIRROR__FRAME__BODY_ERROR);
	ck_assert_ptr_nonnull(strstr(r->error->message, "its cgroup names another pod"));
	wire_frame_free(r);
	/* No UID at all: unverifiable, so refused. */
	r = attach_uid(c, "default", CID, false, "");
	ck_assert_int_eq(r->body_case, BPFMIRROR__FRAME__BODY_ERROR);
	ck_assert_ptr_nonnull(strstr(r->error->message, "not a pod UID"));
	wire_frame_free(r);
	/* The right pod, but claimed in another namespace. */
	r = attach(c, "team-a", CID, false);
	ck_assert_int_eq(r->body_case, BPFMIRROR__FRAME__BODY_ERROR);
	ck_assert_int_eq(r->error->code, BPFMIRROR__ERROR__CODE__CODE_PERMISSION_DENIED);
	ck_assert_ptr_nonnull(strstr(r->error->message, "cannot verify that pod team-a/"));
	wire_frame_free(r);
	/* kubelet's pod log directory missing: the namespace is unverifiable, so refused. */
	{
		char on[128], off[128];
		snprintf(on, sizeof(on), "%s/podlogs", tmp);
		snprintf(off, sizeof(off), "%s/podlogs.off", tmp);
		ck_assert_int_eq(rename(on, off), 0);
		r = attach(c, "default", CID, false);
		ck_assert_int_eq(rename(off, on), 0);
		ck_assert_int_eq(r->body_case, BPFMIRROR__FRAME__BODY_ERROR);
		ck_assert_int_eq(r->error->code, BPFMIRROR__ERROR__CODE__CODE_PERMISSION_DENIED);
		ck_assert_ptr_nonnull(strstr(r->error->message, "pod log directory"));
		wire_frame_free(r);
	}
	client_close(c);
}
END_TEST

START_TEST(attach_env_and_files)
{
	struct bm_client *c = connect_ok();
	Bpfmirror__Frame *r = attach(c, "default", "containerd://" CID, false);
	const Bpfmirror__AttachReply *ar;
	bool saw_port = false, saw_token = false;

	ck_assert_msg(r->body_case == BPFMIRROR__FRAME__BODY_ATTACH_REPLY, "attach: %s",
		      r->body_case == BPFMIRROR__FRAME__BODY_ERROR ? r->error->message : "?");
	ar = r->attach_reply;
	for (size_t i = 0; i < ar->n_env; i++) {
		saw_port |= strcmp(ar->env[i]->key, "PORT") == 0;
		saw_token |= strcmp(ar->env[i]->key, "API_TOKEN") == 0;
	}
	ck_assert(saw_port);
	ck_assert_msg(!saw_token, "policy-denied variable was sent");
	ck_assert_uint_eq(ar->resolv_conf.len, 22);
	ck_assert_uint_gt(ar->port_range_hi, ar->port_range_lo);
	ck_assert_str_eq(ar->pod_ip, "10.244.0.5");
	wire_frame_free(r);
	client_close(c);

	/* One client cannot take the node's reserved-port table: the range is capped. */
	c = connect_ok();
	next_range_size = 65535;
	r = attach(c, "default", "containerd://" CID, false);
	next_range_size = 0;
	ck_assert_int_eq(r->body_case, BPFMIRROR__FRAME__BODY_ATTACH_REPLY);
	ck_assert_uint_eq(r->attach_reply->port_range_hi - r->attach_reply->port_range_lo + 1,
			  4096);
	wire_frame_free(r);
	client_close(c);
	c = connect_ok();
	r = attach(c, "default", "containerd://" CID, false);
	ck_assert_int_eq(r->body_case, BPFMIRROR__FRAME__BODY_ATTACH_REPLY);
	wire_frame_free(r);

	r = file_op(c, BPFMIRROR__FILE_REQUEST__OP__OP_READ, "/app/response.txt");
	ck_assert_int_eq(r->file_reply->errnum, 0);
	ck_assert_uint_eq(r->file_reply->raw_len, 19);
	ck_assert(r->file_reply->eof);
	wire_frame_free(r);
	r = file_op(c, BPFMIRROR__FILE_REQUEST__OP__OP_READ, "/var/run/secrets/token");
	ck_assert_int_eq(r->file_reply->errnum, EACCES);
	wire_frame_free(r);
	/* A link to a denied file is judged by where it leads. */
	r = file_op(c, BPFMIRROR__FILE_REQUEST__OP__OP_READ, "/app/tok");
	ck_assert_int_eq(r->file_reply->errnum, EACCES);
	wire_frame_free(r);
	/* Writing into the pod needs files.allow_write. */
	r = file_op(c, BPFMIRROR__FILE_REQUEST__OP__OP_WRITE, "/app/response.txt");
	ck_assert_int_eq(r->file_reply->errnum, EPERM);
	wire_frame_free(r);
	r = file_op(c, BPFMIRROR__FILE_REQUEST__OP__OP_STAT, "/app/../var/run/secrets/token");
	ck_assert_int_eq(r->file_reply->errnum, EINVAL);
	wire_frame_free(r);
	r = file_op(c, BPFMIRROR__FILE_REQUEST__OP__OP_LIST, "/app");
	ck_assert_int_eq(r->file_reply->errnum, 0);
	ck_assert_uint_eq(r->file_reply->n_entries, 2); /* response.txt, tok */
	wire_frame_free(r);
	client_close(c);
}
END_TEST

START_TEST(attach_refusals)
{
	struct bm_client *c = connect_ok();
	Bpfmirror__Frame *r;

	r = attach(c, "kube-system", CID, false);
	ck_assert_int_eq(r->body_case, BPFMIRROR__FRAME__BODY_ERROR);
	ck_assert_int_eq(r->error->code, BPFMIRROR__ERROR__CODE__CODE_PERMISSION_DENIED);
	wire_frame_free(r);
	r = attach(c, "default", CID, true); /* whole-connection steal is not allowed */
	ck_assert_int_eq(r->body_case, BPFMIRROR__FRAME__BODY_ERROR);
	ck_assert_int_eq(r->error->code, BPFMIRROR__ERROR__CODE__CODE_PERMISSION_DENIED);
	wire_frame_free(r);
	r = attach(c, "default", "fedcba9876543210fedcba9876543210", false);
	ck_assert_int_eq(r->body_case, BPFMIRROR__FRAME__BODY_ERROR);
	ck_assert_int_eq(r->error->code, BPFMIRROR__ERROR__CODE__CODE_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(r->error->message, "is not running"));
	wire_frame_free(r);
	{
		/* A port out of range: that request fails, the session stays. */
		Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT;
		Bpfmirror__Subscribe sub = BPFMIRROR__SUBSCRIBE__INIT;
		sub.port = 70000;
		f.body_case = BPFMIRROR__FRAME__BODY_SUBSCRIBE;
		f.subscribe = &sub;
		ck_assert_int_eq(client_request(c, &f, 2000, &r), 0);
		ck_assert_int_eq(r->body_case, BPFMIRROR__FRAME__BODY_ERROR);
		ck_assert_int_eq(r->error->code, BPFMIRROR__ERROR__CODE__CODE_INVALID_ARGUMENT);
		ck_assert(!r->error->fatal);
		wire_frame_free(r);
	}
	/* The session survives refusals: a valid attach still works. */
	r = attach(c, "default", CID, false);
	ck_assert_int_eq(r->body_case, BPFMIRROR__FRAME__BODY_ATTACH_REPLY);
	wire_frame_free(r);
	client_close(c);
}
END_TEST

static int raw_connect(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_port = htons((uint16_t)atoi(strchr(addr, ':') + 1));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

/* Reads until EOF; returns the number of bytes (the agent closes after its error). */
static size_t read_all(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t r;
	struct timeval tv = {.tv_sec = 2};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (n < cap && (r = read(fd, buf + n, cap - n)) > 0)
		n += (size_t)r;
	return n;
}

START_TEST(bad_frames_close_only_that_session)
{
	static const char *const inputs[] = {
	    "\x00\x00\x00\x03"
	    "abc", /* not protobuf */
	    "\x7f\x00\x00\x00"
	    "x", /* oversized */
	    "\x00\x00\x00\x02"
	    "\x08\x01", /* envelope without a body */
	};
	static const size_t lens[] = {7, 5, 6};
	char buf[512];

	for (size_t i = 0; i < 3; i++) {
		int fd = raw_connect();
		size_t n;
		ck_assert_int_eq(write(fd, inputs[i], lens[i]), (ssize_t)lens[i]);
		n = read_all(fd, buf, sizeof(buf));
		ck_assert_msg(n > 4, "input %zu: no error frame before close", i);
		close(fd);
	}
	/* The agent is still serving. */
	client_close(connect_ok());
}
END_TEST

START_TEST(version_mismatch_and_silence)
{
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT;
	Bpfmirror__Hello h = BPFMIRROR__HELLO__INIT;
	uint8_t *out = NULL, hdr[4];
	size_t len = 0;
	char buf[512];
	int fd = raw_connect();

	h.protocol_version = 99;
	f.body_case = BPFMIRROR__FRAME__BODY_HELLO;
	f.hello = &h;
	ck_assert_int_eq(wire_encode(&f, &out, &len), 0);
	ck_assert_int_eq(frame_put_header(hdr, len, 1u << 20), 0);
	ck_assert_int_eq(write(fd, hdr, 4), 4);
	ck_assert_int_eq(write(fd, out, len), (ssize_t)len);
	free(out);
	len = read_all(fd, buf, sizeof(buf));
	ck_assert_uint_gt(len, 4);
	ck_assert_ptr_nonnull(memmem(buf, len, "protocol version 99", 19));
	close(fd);

	/* A client that says nothing is dropped after 3 heartbeat intervals. */
	fd = raw_connect();
	ck_assert_uint_eq(read_all(fd, buf, sizeof(buf)), 0);
	close(fd);
}
END_TEST

/* Writes all of BUF (the agent may hang up half-way: then false). */
static bool send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN) {
			if (poll(&pfd, 1, 2000) <= 0)
				return false;
			continue;
		}
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* A handshaken session's socket, made blocking for the raw writes and reads below. */
static int hello_fd(struct bm_client **c)
{
	int fd;

	*c = connect_ok();
	fd = client_fd(*c);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

/* Header + Frame{packet_batch} of N empty Packets (2 bytes each), encoded by hand. */
static uint8_t *empty_batch_frame(size_t n, size_t *len)
{
	size_t body = 2 * n, i = 4;
	uint8_t *p = malloc(body + 16);

	p[i++] = 0x8a; /* field 17, length-delimited */
	p[i++] = 0x01;
	p[i++] = (uint8_t)(0x80 | (body & 0x7f));
	p[i++] = (uint8_t)(0x80 | ((body >> 7) & 0x7f));
	p[i++] = (uint8_t)(0x80 | ((body >> 14) & 0x7f));
	p[i++] = (uint8_t)((body >> 21) & 0x7f);
	memset(p + i, 0, body);
	for (size_t k = 0; k < n; k++)
		p[i + 2 * k] = 0x0a;
	i += body;
	ck_assert_int_eq(frame_put_header(p, i - 4, BPFMIRROR_FRAME_MAX_DEFAULT), 0);
	*len = i;
	return p;
}

/* Sends RAW on a fresh handshaken session: the agent must answer WANT and close. */
static void expect_refusal(const void *raw, size_t len, const char *want)
{
	static char buf[4096];
	struct bm_client *c;
	int fd = hello_fd(&c);
	size_t n;

	send_all(fd, raw, len);
	n = read_all(fd, buf, sizeof(buf));
	ck_assert_msg(n > 4 && memmem(buf, n, want, strlen(want)), "want '%s' in the answer", want);
	client_close(c);
}

START_TEST(hostile_frames)
{
	static uint8_t hb[FRAME_HDR_LEN + 11 + (100u << 10)];
	static const char big_prehello[] = "\x00\x01\x00\x01xxxx";
	char buf[512];
	size_t len, n;
	uint8_t *p;
	int fd;

	/* Before Hello, 64 KiB is the most a frame may say it has. */
	fd = raw_connect();
	ck_assert_int_eq(write(fd, big_prehello, 8), 8);
	n = read_all(fd, buf, sizeof(buf));
	ck_assert_ptr_nonnull(memmem(buf, n, "before hello", 12));
	close(fd);
	/* After it: 2 million empty packets in 4 MiB would decode to ~245 MB. */
	p = empty_batch_frame(((4u << 20) - 8) / 2, &len);
	expect_refusal(p, len, "decodes to more memory");
	free(p);
	p = empty_batch_frame(BPFMIRROR_BATCH_MAX_PACKETS + 1, &len);
	expect_refusal(p, len, "too many packets in one batch");
	free(p);
	/* A 100 KiB heartbeat (an unknown field 99 pads the frame): control messages are small. */
	len = FRAME_HDR_LEN + 11 + (100u << 10);
	ck_assert_int_eq(frame_put_header(hb, len - FRAME_HDR_LEN, BPFMIRROR_FRAME_MAX_DEFAULT), 0);
	memcpy(hb + 4, "\xc2\x01\x02\x08\x01\x9a\x06\x80\xa0\x86\x00", 11);
	expect_refusal(hb, len, "larger than the small-frame limit");
	client_close(connect_ok());
}
END_TEST

START_TEST(session_limit)
{
	int fds[8], fd;
	char buf[512];
	size_t n;

	for (int i = 0; i < 8; i++)
		fds[i] = raw_connect();
	fd = raw_connect();
	n = read_all(fd, buf, sizeof(buf));
	ck_assert_ptr_nonnull(memmem(buf, n, "its limit", 9));
	close(fd);
	for (int i = 0; i < 8; i++)
		close(fds[i]);
	usleep(100000);
	client_close(connect_ok());
}
END_TEST

/* A client that stops reading is closed, not given memory: the agent stays for others. */
START_TEST(never_reading_client_is_closed)
{
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT;
	Bpfmirror__Heartbeat h = BPFMIRROR__HEARTBEAT__INIT;
	struct bm_client *c;
	uint8_t *one, *many;
	size_t len, nhb = 400000; /* ~8 MB of answers: more than socket buffers hold */
	int fd = hello_fd(&c), i;

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &(int){4096}, sizeof(int));
	f.body_case = BPFMIRROR__FRAME__BODY_HEARTBEAT;
	f.heartbeat = &h;
	f.request_id = 5; /* each one answered */
	ck_assert_int_eq(wire_encode(&f, &one, &len), 0);
	many = malloc(nhb * (len + 4));
	for (size_t i = 0; i < nhb; i++) {
		frame_put_header(many + i * (len + 4), len, 1u << 20);
		memcpy(many + i * (len + 4) + 4, one, len);
	}
	send_all(fd, many, nhb * (len + 4));
	/*
	 * Alive but not reading: heartbeats that need no answer, until the agent
	 * has closed the session (sending then fails), for at most 10 s.
	 */
	f.request_id = 0;
	free(one);
	ck_assert_int_eq(wire_encode(&f, &one, &len), 0);
	for (i = 0; i < 100; i++) {
		uint8_t hdr[4];
		frame_put_header(hdr, len, 1u << 20);
		if (!send_all(fd, hdr, 4) || !send_all(fd, one, len))
			break;
		usleep(100000);
	}
	ck_assert_msg(i < 100, "the agent kept a session that reads nothing");
	free(one);
	free(many);
	client_close(c);
	client_close(connect_ok());
}
END_TEST

static Suite *agent_session_suite(void)
{
	Suite *s = suite_create("agent_session");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, attach_env_and_files);
	tcase_add_test(tc, attach_refusals);
	tcase_add_test(tc, claims_must_match_the_node);
	tcase_add_test(tc, bad_frames_close_only_that_session);
	tcase_add_test(tc, version_mismatch_and_silence);
	tcase_add_test(tc, hostile_frames);
	tcase_add_test(tc, session_limit);
	tcase_add_test(tc, never_reading_client_is_closed);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(agent_session_suite)
