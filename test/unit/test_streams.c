/* Unit tests for the CLI's streams: an agent's stream becomes a connection to the app in the twin.
 */
#include "streams.h"
#include "testtwin.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/socket.h>

#define APP_PORT 8080

static char dir[64], out_path[128], ready_path[128];

/*
 * The "app", run in the twin by this binary: listens on the pod's address,
 * takes one connection, reads it to EOF and writes "PEER:PORT DATA" to OUT.
 */
static int app_main(const char *out, const char *ready)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(APP_PORT)}, peer;
	socklen_t plen = sizeof(peer);
	char data[256], ip[INET_ADDRSTRLEN];
	size_t n = 0;
	ssize_t r;
	int s = socket(AF_INET, SOCK_STREAM, 0), c, fd;
	FILE *f;

	inet_pton(AF_INET, TEST_POD_IP, &a.sin_addr);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) || listen(s, 1))
		return 10;
	fd = open(ready, O_CREAT | O_WRONLY, 0644);
	if (fd < 0)
		return 11;
	close(fd);
	c = accept(s, (struct sockaddr *)&peer, &plen);
	if (c < 0)
		return 12;
	while (n < sizeof(data) - 1 && (r = read(c, data + n, sizeof(data) - 1 - n)) > 0)
		n += (size_t)r;
	data[n] = '\0';
	f = fopen(out, "w");
	if (!f)
		return 13;
	fprintf(f, "%s:%u %s", inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof(ip)),
		ntohs(peer.sin_port), data);
	fclose(f);
	return 0;
}

static void no_kick(void *ctx, struct link *l)
{
	(void)ctx;
	(void)l;
}

/* A frame of the agent's: stream 1 from 10.0.0.9:5555 to the pod's APP_PORT. */
static void stream_frame(struct streams *ss, struct link *l, Bpfmirror__Frame__BodyCase body,
			 const char *data)
{
	static uint8_t cip[4] = {10, 0, 0, 9}, sip[4] = {10, 99, 0, 5};
	Bpfmirror__Frame f = BPFMIRROR__FRAME__INIT;
	Bpfmirror__StreamOpen open = BPFMIRROR__STREAM_OPEN__INIT;
	Bpfmirror__StreamData sd = BPFMIRROR__STREAM_DATA__INIT;
	Bpfmirror__StreamHalfClose hc = BPFMIRROR__STREAM_HALF_CLOSE__INIT;
	Bpfmirror__Connection c = BPFMIRROR__CONNECTION__INIT;
	Bpfmirror__Address ca = BPFMIRROR__ADDRESS__INIT, sa = BPFMIRROR__ADDRESS__INIT;

	ca.ip.data = cip;
	ca.ip.len = 4;
	ca.port = 5555;
	sa.ip.data = sip;
	sa.ip.len = 4;
	sa.port = APP_PORT;
	c.client = &ca;
	c.server = &sa;
	f.body_case = body;
	switch (body) {
	case BPFMIRROR__FRAME__BODY_STREAM_OPEN:
		open.stream_id = 1;
		open.conn = &c;
		f.stream_open = &open;
		break;
	case BPFMIRROR__FRAME__BODY_STREAM_DATA:
		sd.stream_id = 1;
		sd.conn = &c;
		sd.data.data = (uint8_t *)data;
		sd.data.len = strlen(data);
		f.stream_data = &sd;
		break;
	default:
		hc.stream_id = 1;
		hc.conn = &c;
		f.stream_half_close = &hc;
		break;
	}
	streams_on_frame(ss, l, &f);
}

/* Runs LOOP until PATH exists (or TIMEOUT_MS); true when it does. */
static bool run_until_file(struct evloop *loop, const char *path, int timeout_ms)
{
	for (int waited = 0; waited < timeout_ms; waited += 50) {
		if (access(path, F_OK) == 0)
			return true;
		evloop_run_once(loop, 50);
	}
	return access(path, F_OK) == 0;
}

/*
 * Open, data and half-close from the agent reach the app as a connection from
 * the original client's address and port, its bytes and an EOF.
 */
START_TEST(stream_reaches_the_app)
{
	char self[256], got[300] = "";
	char *argv[] = {self, "--app", out_path, ready_path, NULL};
	struct twin_opts o = {0};
	struct test_twin t;
	struct link l = {.up = false}; /* frames toward the agent are dropped */
	struct evloop *loop = evloop_new();
	struct streams *ss;
	struct streams_opts so = {.loop = loop, .kick = no_kick};
	char err[512];
	ssize_t n;
	FILE *f;
	int status;

	ck_assert_ptr_nonnull(loop);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	ck_assert_int_gt(n, 0);
	self[n] = '\0';
	snprintf(dir, sizeof(dir), "/tmp/bm-streams-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(out_path, sizeof(out_path), "%s/out", dir);
	snprintf(ready_path, sizeof(ready_path), "%s/ready", dir);

	ck_assert_int_eq(test_twin_start(&t, &o, argv), 0);
	ck_assert_int_eq(twin_go(&t.tw, err, sizeof(err)), 0);
	ck_assert_msg(run_until_file(loop, ready_path, 10000), "the app did not listen");
	so.twin_pid = t.tw.pid;
	ss = streams_new(&so);
	ck_assert_ptr_nonnull(ss);
	stream_frame(ss, &l, BPFMIRROR__FRAME__BODY_STREAM_OPEN, NULL);
	stream_frame(ss, &l, BPFMIRROR__FRAME__BODY_STREAM_DATA, "hello ");
	stream_frame(ss, &l, BPFMIRROR__FRAME__BODY_STREAM_DATA, "app");
	stream_frame(ss, &l, BPFMIRROR__FRAME__BODY_STREAM_HALF_CLOSE, NULL);
	ck_assert_msg(run_until_file(loop, out_path, 10000), "the app saw no EOF");
	status = test_twin_wait(&t, 5000);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	f = fopen(out_path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(got, sizeof(got), f));
	fclose(f);
	ck_assert_str_eq(got, "10.0.0.9:5555 hello app");

	streams_free(ss);
	evloop_free(loop);
	test_twin_end(&t);
	unlink(out_path);
	unlink(ready_path);
	rmdir(dir);
}
END_TEST

static Suite *streams_suite(void)
{
	Suite *s = suite_create("streams");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, stream_reaches_the_app);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--app") == 0)
		return app_main(argv[2], argv[3]);
	return test_need_root("test_streams") ?: test_run_suite(streams_suite());
}
