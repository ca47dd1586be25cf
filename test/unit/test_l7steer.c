/*
 * Unit tests for the filtered-steal socket glue (l7steer) over real sockets: a
 * request that no ready session's filter matches reaches the app, a matching
 * one becomes Stream* frames to its session, and the session's answer reaches
 * the client. Needs root: it runs in a network namespace private to this
 * process, where l7steer makes its steer namespace; policy routing stands in
 * for the BPF redirect (client source 10.1.0.1 -> bpfmr0 -> steer namespace).
 * The sessions are a fake session_stream_send() that records the frames.
 */
#include "agent_priv.h"
#include "l7steer.h"
#include "log.h"
#include "privnetns.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define POD	"10.244.0.5" /* local in this namespace: where the "app" listens */
#define CLIENT	"10.1.0.1"   /* the client's source: routed into the steer namespace */
#define PORT	8080
#define SID	7u
#define APP_RSP "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\napp"
#define SES_RSP "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nses"

/* ---- the fake sessions: what l7steer sent them ----------------------------------------- */

static struct {
	unsigned opens, datas, closes;
	uint64_t stream_id;
	char data[1024];
	size_t data_len;
} sent;

int session_stream_send(struct agent *ag, uint32_t sid, Bpfmirror__Frame *f)
{
	(void)ag;
	ck_assert_uint_eq(sid, SID);
	switch (f->body_case) {
	case BPFMIRROR__FRAME__BODY_STREAM_OPEN:
		sent.opens++;
		sent.stream_id = f->stream_open->stream_id;
		break;
	case BPFMIRROR__FRAME__BODY_STREAM_DATA: {
		size_t n = f->stream_data->data.len;

		ck_assert_uint_eq(f->stream_data->stream_id, sent.stream_id);
		ck_assert_uint_lt(sent.data_len + n, sizeof(sent.data));
		memcpy(sent.data + sent.data_len, f->stream_data->data.data, n);
		sent.data_len += n;
		sent.datas++;
		break;
	}
	case BPFMIRROR__FRAME__BODY_STREAM_CLOSE:
		sent.closes++;
		break;
	default:
		break;
	}
	return 0;
}

size_t session_stream_queued(struct agent *ag, uint32_t sid)
{
	(void)ag;
	(void)sid;
	return 0;
}

/* ---- fixture --------------------------------------------------------------------------- */

static struct agent ag;
static struct l7steer *l7;
static pid_t app_pid;

static void sh(const char *cmd)
{
	ck_assert_msg(system(cmd) == 0, "failed: %s", cmd);
}

/* The app: answers one request on POD:PORT in this namespace (never steered: no route). */
static pid_t start_app(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(PORT)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	pid_t pid;

	ck_assert_int_ge(fd, 0);
	inet_pton(AF_INET, POD, &sin.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char buf[1024];
		int c = accept(fd, NULL, NULL);

		if (c < 0 || read(c, buf, sizeof(buf)) <= 0 ||
		    write(c, APP_RSP, strlen(APP_RSP)) != (ssize_t)strlen(APP_RSP))
			_exit(1);
		close(c);
		_exit(0);
	}
	close(fd);
	return pid;
}

static void setup(void)
{
	char err[256] = "";
	int rc;

	memset(&sent, 0, sizeof(sent));
	memset(&ag, 0, sizeof(ag));
	ag.loop = evloop_new();
	ck_assert_ptr_nonnull(ag.loop);
	l7 = l7steer_new(&ag);
	ck_assert_ptr_nonnull(l7);
	{
		struct datapath_ip pod = {.family = AF_INET};

		inet_pton(AF_INET, POD, &pod.u.v4);
		rc = l7steer_add(l7, SID, &pod, PORT, "x-dev: alice", "", err, sizeof(err));
		ck_assert_msg(rc == 0, "l7steer_add: %s", err);
	}
	/* What the BPF redirect does in the agent: the client's packets to the pod go to bpfmr0. */
	sh("ip route replace " POD "/32 via 169.254.238.2 dev bpfmr0 table 100");
	sh("sysctl -qw net.ipv4.conf.bpfmr0.accept_local=1");
	app_pid = start_app();
}

static void teardown(void)
{
	kill(app_pid, SIGKILL);
	waitpid(app_pid, NULL, 0);
	l7steer_free(l7);
	evloop_free(ag.loop);
}

/*
 * A client in a child: sends REQ to POD:PORT from CLIENT and writes what it
 * reads back into the returned pipe. The parent keeps driving the event loop.
 */
static int start_client(const char *req, pid_t *pid)
{
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	*pid = fork();
	ck_assert_int_ge(*pid, 0);
	if (*pid == 0) {
		struct sockaddr_in src = {.sin_family = AF_INET}, dst = {.sin_family = AF_INET};
		struct timeval tv = {.tv_sec = 5};
		char buf[1024];
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		ssize_t n, got = 0;

		inet_pton(AF_INET, CLIENT, &src.sin_addr);
		inet_pton(AF_INET, POD, &dst.sin_addr);
		dst.sin_port = htons(PORT);
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)) ||
		    connect(fd, (struct sockaddr *)&dst, sizeof(dst)) ||
		    write(fd, req, strlen(req)) != (ssize_t)strlen(req))
			_exit(1);
		/* Both answers are as long; the connection stays open (keep-alive). */
		while (got < (ssize_t)strlen(APP_RSP) &&
		       (n = read(fd, buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
			got += n;
		if (write(p[1], buf, (size_t)got) != got)
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	return p[0];
}

/* Drives the loop until the client is done; returns what it read. */
static const char *client_result(int rfd, pid_t pid, bool answer_as_session)
{
	static char out[1024];
	struct pollfd pfd = {.fd = rfd, .events = POLLIN};
	bool answered = false;
	ssize_t n;
	int status;

	for (int i = 0; i < 500 && poll(&pfd, 1, 0) == 0; i++) {
		evloop_run_once(ag.loop, 10);
		/* The session answers once it has the whole request (outside l7steer's calls). */
		if (answer_as_session && !answered && strstr(sent.data, "\r\n\r\n")) {
			Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT;
			Bpfmirror__StreamData d = BPFMIRROR__STREAM_DATA__INIT;
			Bpfmirror__StreamClose c = BPFMIRROR__STREAM_CLOSE__INIT;

			d.stream_id = sent.stream_id;
			d.data.data = (uint8_t *)SES_RSP;
			d.data.len = strlen(SES_RSP);
			f.body_case = BPFMIRROR__FRAME__BODY_STREAM_DATA;
			f.stream_data = &d;
			l7steer_on_frame(l7, SID, &f);
			c.stream_id = sent.stream_id;
			f.body_case = BPFMIRROR__FRAME__BODY_STREAM_CLOSE;
			f.stream_close = &c;
			l7steer_on_frame(l7, SID, &f);
			answered = true;
		}
	}
	waitpid(pid, &status, 0);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "client failed");
	n = read(rfd, out, sizeof(out) - 1);
	close(rfd);
	out[n > 0 ? n : 0] = '\0';
	return out;
}

/* ---- tests ----------------------------------------------------------------------------- */

START_TEST(unmatched_request_goes_to_the_app)
{
	pid_t pid;
	int rfd;
	const char *rsp;
	struct l7steer_stats st;

	/* Ready, but its filter does not match this request. */
	ck_assert_int_eq(l7steer_set_ready(l7, SID, PORT, true), 0);
	rfd = start_client("GET / HTTP/1.1\r\nHost: app\r\nx-dev: bob\r\n\r\n", &pid);
	rsp = client_result(rfd, pid, false);
	ck_assert_str_eq(rsp, APP_RSP);
	ck_assert_uint_eq(sent.opens, 0);
	l7steer_stats(l7, &st);
	ck_assert_uint_eq(st.conns_accepted, 1);
	ck_assert_uint_eq(st.to_app, 1);
	ck_assert_uint_eq(st.to_sessions, 0);
}
END_TEST

START_TEST(matched_request_goes_to_the_session)
{
	pid_t pid;
	int rfd;
	const char *rsp;
	struct l7steer_stats st;

	ck_assert_int_eq(l7steer_set_ready(l7, SID, PORT, true), 0);
	rfd = start_client("GET /x HTTP/1.1\r\nHost: app\r\nX-Dev: alice\r\n\r\n", &pid);
	rsp = client_result(rfd, pid, true);
	ck_assert_str_eq(rsp, SES_RSP);
	ck_assert_uint_eq(sent.opens, 1);
	ck_assert_ptr_nonnull(strstr(sent.data, "GET /x HTTP/1.1\r\n"));
	ck_assert_ptr_nonnull(strstr(sent.data, "X-Dev: alice\r\n"));
	l7steer_stats(l7, &st);
	ck_assert_uint_eq(st.streams_opened, 1);
	ck_assert_uint_eq(st.to_sessions, 1);
	ck_assert_uint_eq(st.to_app, 0);
}
END_TEST

START_TEST(session_not_ready_leaves_requests_to_the_app)
{
	pid_t pid;
	int rfd;

	/* Attached with a filter but its listener is not up (no Subscribe yet). */
	rfd = start_client("GET / HTTP/1.1\r\nHost: app\r\nX-Dev: alice\r\n\r\n", &pid);
	ck_assert_str_eq(client_result(rfd, pid, true), APP_RSP);
	ck_assert_uint_eq(sent.opens, 0);
	ck_assert_int_eq(l7steer_set_ready(l7, SID + 1, PORT, true), -ENOENT);
}
END_TEST

static Suite *l7steer_suite(void)
{
	Suite *s = suite_create("l7steer");
	TCase *tc = tcase_create("sockets");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, unmatched_request_goes_to_the_app);
	tcase_add_test(tc, matched_request_goes_to_the_session);
	tcase_add_test(tc, session_not_ready_leaves_requests_to_the_app);
	suite_add_tcase(s, tc);
	return s;
}

/*
 * A network namespace of this process only: the steer namespace, bpfmr0 and
 * the routes vanish with it. The client's source is routed into bpfmr0 ahead
 * of the local table (POD is local here, for the app).
 */
static int make_netns(void)
{
	static const char *const cmds[] = {
	    "ip link set lo up",
	    "ip addr add " POD "/32 dev lo",
	    "ip addr add " CLIENT "/32 dev lo",
	    "ip rule add pref 10 from " CLIENT " to " POD " lookup 100",
	    "ip rule add pref 50 lookup local",
	    "ip rule del pref 0 lookup local",
	    NULL,
	};

	return test_private_netns(cmds);
}

int main(void)
{
	int rc = test_need_root("test_l7steer");

	if (rc)
		return rc;
	log_set_level(LOG_LVL_ERROR);
	signal(SIGPIPE, SIG_IGN);
	if (make_netns()) {
		fprintf(stderr, "test_l7steer: cannot set up a private network namespace\n");
		return EXIT_FAILURE;
	}
	return test_run_suite(l7steer_suite());
}
