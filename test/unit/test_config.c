/* Unit tests for the config module: defaults, loading, every error path, flag precedence. */
/* With the ABI header too: this file does not compile if the two config structs share a name. */
#include "bpfmirror_abi.h"
#include "config.h"
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static struct bm_userconfig cfg;
static struct bm_error err;

static void setup(void)
{
	ck_assert_int_eq(config_defaults(&cfg), 0);
	memset(&err, 0, sizeof(err));
}

static void teardown(void)
{
	config_free(&cfg);
}

static int load(const char *yaml)
{
	return config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, &err);
}

START_TEST(defaults)
{
	ck_assert_ptr_null(cfg.target);
	ck_assert_ptr_null(cfg.namespace);
	ck_assert_int_eq(cfg.incoming.mode, BM_MODE_MIRROR);
	ck_assert(!cfg.incoming.ports.set);
	ck_assert(cfg.outgoing.enabled);
	ck_assert_int_eq(cfg.outgoing.local.n, 0);
	ck_assert_int_eq(cfg.env.include.n, 1);
	ck_assert_str_eq(cfg.env.include.v[0], "*");
	ck_assert_int_eq(cfg.env.exclude.n, 5);
	ck_assert(!config_env_selected(&cfg, "LD_PRELOAD"));
	ck_assert(!config_env_selected(&cfg, "LD_LIBRARY_PATH"));
	ck_assert(config_env_selected(&cfg, "REDISADDRESS"));
	ck_assert(!cfg.fs.read_only.set);
	ck_assert_int_eq(cfg.agent.connect, BM_CONNECT_PORT_FORWARD);
	ck_assert_ptr_null(cfg.agent.address);
	ck_assert_int_eq(config_validate(&cfg, &err), 0);
}
END_TEST

START_TEST(full_file)
{
	static const char yaml[] = "target: deployment/web/container/app\n"
				   "namespace: staging\n"
				   "kubeconfig: /etc/kube.yaml\n"
				   "context: ctx\n"
				   "incoming:\n"
				   "  mode: steal\n"
				   "  ports: [8080, 9090]\n"
				   "  http_filter: {header: '^X-Dev: a$', path: ^/api}\n"
				   "outgoing:\n"
				   "  enabled: false\n"
				   "  local:\n"
				   "    - redis:6379\n"
				   "    - '[::1]:5432'\n"
				   "    - {address: db.svc, port: 5432, local_port: 15432}\n"
				   "env:\n"
				   "  include: [APP_*]\n"
				   "  exclude: []\n"
				   "  override: {PORT: 8080, DEBUG: true, NAME: x}\n"
				   "fs:\n"
				   "  read_only: [/etc/cfg]\n"
				   "  read_write: []\n"
				   "  local: [/tmp]\n"
				   "agent: {address: '10.0.0.1:7070', connect: direct}\n";

	ck_assert_msg(load(yaml) == 0, "%s", err.msg);
	ck_assert_int_eq(config_validate(&cfg, &err), 0);
	ck_assert_str_eq(cfg.target, "deployment/web/container/app");
	ck_assert_str_eq(cfg.namespace, "staging");
	ck_assert_str_eq(cfg.kubeconfig, "/etc/kube.yaml");
	ck_assert_str_eq(cfg.context, "ctx");
	ck_assert_int_eq(cfg.incoming.mode, BM_MODE_STEAL);
	ck_assert_int_eq(cfg.incoming.ports.n, 2);
	ck_assert_int_eq(cfg.incoming.ports.v[1], 9090);
	ck_assert_str_eq(cfg.incoming.header, "^X-Dev: a$");
	ck_assert_str_eq(cfg.incoming.path, "^/api");
	ck_assert(!cfg.outgoing.enabled);
	ck_assert_int_eq(cfg.outgoing.local.n, 3);
	ck_assert_str_eq(cfg.outgoing.local.v[0].host, "redis");
	ck_assert_int_eq(cfg.outgoing.local.v[0].local_port, 6379);
	ck_assert_str_eq(cfg.outgoing.local.v[1].host, "::1");
	ck_assert_str_eq(cfg.outgoing.local.v[2].host, "db.svc");
	ck_assert_int_eq(cfg.outgoing.local.v[2].port, 5432);
	ck_assert_int_eq(cfg.outgoing.local.v[2].local_port, 15432);
	ck_assert_int_eq(cfg.env.include.n, 1);
	ck_assert(cfg.env.exclude.set);
	ck_assert_int_eq(cfg.env.exclude.n, 0);
	ck_assert_int_eq(cfg.env.override.n, 3);
	ck_assert_str_eq(cfg.env.override.v[0].value, "8080");
	ck_assert_str_eq(cfg.env.override.v[1].value, "true");
	ck_assert(cfg.fs.read_only.set);
	ck_assert(cfg.fs.read_write.set);
	ck_assert_int_eq(cfg.fs.read_write.n, 0);
	ck_assert_str_eq(cfg.agent.address, "10.0.0.1:7070");
	ck_assert_int_eq(cfg.agent.connect, BM_CONNECT_DIRECT);
}
END_TEST

static const char *examples_dir(void)
{
	const char *src = getenv("BPFMIRROR_SRCDIR");
	static char buf[1024];

	snprintf(buf, sizeof(buf), "%s/docs/examples", src ? src : ".");
	return buf;
}

START_TEST(docs_examples_parse)
{
	const char *dir = examples_dir();
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	ck_assert_msg(d != NULL, "cannot open %s (run from the repo root)", dir);
	while ((de = readdir(d))) {
		char path[2048];
		size_t len = strlen(de->d_name);
		struct bm_userconfig c;
		struct bm_error e = {{0}};

		if (len < 6 || strcmp(de->d_name + len - 5, ".yaml") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		ck_assert_int_eq(config_defaults(&c), 0);
		ck_assert_msg(config_load_file(path, &c, &e) == 0, "%s", e.msg);
		ck_assert_msg(config_validate(&c, &e) == 0, "%s", e.msg);
		config_free(&c);
		n++;
	}
	closedir(d);
	ck_assert_int_ge(n, 2);
}
END_TEST

/* Each bad file and the text its error must contain (position, key, problem). */
static const struct {
	const char *yaml;
	const char *want;
} bad_files[] = {
    {"incoming:\n  ports: [80]\n  mode: mirorr\n",
     "t.yaml:3:9: incoming.mode: expected one of mirror, steal, got \"mirorr\""},
    {"incoming:\n  prots: [80]\n",
     "t.yaml:2:3: incoming.prots: unknown key (did you mean 'ports'?)"},
    {"taget: pod/x\n", "t.yaml:1:1: taget: unknown key (did you mean 'target'?)"},
    {"Incoming: {}\n", "did you mean 'incoming'?"},
    {"incoming:\n  http-filter: {}\n", "did you mean 'http_filter'?"},
    {"header: x\n", "t.yaml:1:1: header: unknown key ('header' belongs under "
		    "'incoming.http_filter')"},
    {"zzzzzz: 1\n", "t.yaml:1:1: zzzzzz: unknown key"},
    {"incoming:\n  ports: [80, 70000]\n",
     "t.yaml:2:15: incoming.ports[1]: port out of range (expected 1..65535), got 70000"},
    {"incoming:\n  ports: [0]\n", "incoming.ports[0]: port out of range"},
    {"incoming:\n  ports: [80, 80]\n", "incoming.ports[1]: port 80 is listed twice"},
    {"incoming:\n  ports: ['80']\n", "incoming.ports[0]: expected a port number 1..65535, got "
				     "\"80\""},
    {"incoming:\n  ports: [-1]\n", "incoming.ports[0]: expected a port number"},
    {"incoming:\n  ports: 80\n", "t.yaml:2:10: incoming.ports: expected a list, got integer 80"},
    {"incoming:\n  ports: {a: 1}\n", "incoming.ports: expected a list, got a mapping"},
    {"incoming: [a]\n", "t.yaml:1:11: incoming: expected a mapping of incoming keys, got a list"},
    {"incoming:\n", "incoming: expected a mapping of incoming keys, got null"},
    {"incoming:\n  mode: [steal]\n", "incoming.mode: expected one of mirror, steal, got a list"},
    {"incoming:\n  mode:\n", "incoming.mode: expected one of mirror, steal, got null"},
    {"incoming: [a\n", "t.yaml:2:1: YAML syntax error: did not find expected ',' or ']'"},
    {"a: b: c\n", "t.yaml:1:5: YAML syntax error: mapping values are not allowed"},
    {"target: \"abc\n", "YAML syntax error"},
    {"x: *nope\n", "YAML syntax error: found undefined alias"},
    {"", "t.yaml:1:1: the file is empty"},
    {"# only a comment\n", "the file is empty"},
    {"---\n", "the file is empty"},
    {"- a\n- b\n", "t.yaml:1:1: expected a mapping of keys at the top level, got a list"},
    {"just text\n", "expected a mapping of keys at the top level, got \"just text\""},
    {"target: pod/a\n---\ntarget: pod/b\n", "t.yaml:2:1: a second YAML document"},
    {"target: pod/a\ntarget: pod/b\n",
     "t.yaml:2:1: target: duplicate key (first at line 1, column 1)"},
    {"incoming:\n  mode: steal\n  mode: mirror\n",
     "t.yaml:3:3: incoming.mode: duplicate key (first at line 2"},
    {"? [a]\n: b\n", "t.yaml:1:3: expected a key name, got a list"},
    {"target: app\n", "target: expected KIND/NAME"},
    {"target: job/x\n", "target: unknown kind \"job\""},
    {"target: pod/Web\n", "target: invalid name in target"},
    {"target: pod/web/sidecar/x\n", "expected KIND/NAME or KIND/NAME/container/NAME"},
    {"target: pod/web/container/A_B\n", "invalid container name"},
    {"target: 42\n", "t.yaml:1:9: target: expected a string, got integer 42 (quote it"},
    {"target: ''\n", "target: expected a non-empty string, got \"\""},
    {"target: \"pod/a\\0b\"\n", "target: contains a NUL character"},
    {"namespace: Team_A\n", "namespace: expected a namespace name"},
    {"namespace: true\n", "namespace: expected a string, got boolean true"},
    {"context: 1.5\n", "context: expected a string, got number 1.5"},
    {"kubeconfig: ~\n", "kubeconfig: expected a string, got null"},
    {"incoming:\n  mode: steal\n  http_filter:\n    header: \"X-Dev: (a\"\n",
     "t.yaml:4:13: incoming.http_filter.header: invalid regular expression"},
    {"incoming:\n  mode: steal\n  http_filter:\n    path: \"[a\"\n",
     "incoming.http_filter.path: invalid regular expression"},
    {"incoming:\n  mode: steal\n  http_filter:\n    path: \"((a{100}){100}){100}\"\n",
     "incoming.http_filter.path: regular expression too complex"},
    {"incoming:\n  mode: steal\n  http_filter:\n    header: \"a+++++++++++++\"\n",
     "incoming.http_filter.header: regular expression too complex"},
    {"incoming:\n  mode: steal\n  http_filter:\n    header: \"(a)\\\\1\"\n",
     "incoming.http_filter.header: back-references"},
    {"incoming:\n  mode: steal\n  http_filter:\n    header: ''\n",
     "incoming.http_filter.header: expected a non-empty string"},
    {"incoming:\n  mode: steal\n  http_filter:\n    ports: [1]\n",
     "incoming.http_filter.ports: unknown key ('ports' belongs under 'incoming')"},
    {"outgoing:\n  enabled: yes\n", "outgoing.enabled: expected true or false, got \"yes\""},
    {"outgoing:\n  enabled: 'true'\n", "outgoing.enabled: expected true or false"},
    {"outgoing:\n  local: [redis]\n", "outgoing.local[0]: expected HOST:PORT, got \"redis\""},
    {"outgoing:\n  local: ['redis:0']\n", "outgoing.local[0]: expected HOST:PORT with a port"},
    {"outgoing:\n  local: ['::1:80']\n", "write IPv6 addresses as [ADDR]:PORT"},
    {"outgoing:\n  local: [':80']\n", "expected HOST:PORT with a host"},
    {"outgoing:\n  local: ['a b:80']\n", "invalid character ' ' in host"},
    {"outgoing:\n  local: [a:1, a:1]\n", "outgoing.local[1]: endpoint a:1 is listed twice"},
    {"outgoing:\n  local: [8080]\n", "outgoing.local[0]: expected HOST:PORT or a mapping, got "
				     "integer 8080"},
    {"outgoing:\n  local:\n    - address: x\n      prot: 4\n",
     "t.yaml:4:7: outgoing.local[0].prot: unknown key (did you mean 'port'?)"},
    {"outgoing:\n  local:\n    - {address: x, colour: 4}\n",
     "outgoing.local[0].colour: unknown key (expected address, port, local_port)"},
    {"outgoing:\n  local:\n    - {address: x}\n", "t.yaml:3:7: outgoing.local[0]: missing 'port'"},
    {"outgoing:\n  local:\n    - {port: 1}\n", "outgoing.local[0]: missing 'address'"},
    {"outgoing:\n  local:\n    - {address: x, port: 99999}\n",
     "outgoing.local[0].port: port out of range"},
    {"outgoing:\n  local:\n    - {address: 'a/b', port: 1}\n", "invalid character '/'"},
    {"outgoing:\n  local:\n    - {address: x, port: 1, port: 2}\n",
     "outgoing.local[0].port: duplicate key"},
    {"env:\n  include: APP_*\n", "env.include: expected a list, got \"APP_*\""},
    {"env:\n  include: ['']\n", "env.include[0]: expected a non-empty pattern"},
    {"env:\n  exclude: [[a]]\n", "env.exclude[0]: expected a name pattern, got a list"},
    {"env:\n  override: [A=1]\n", "env.override: expected a mapping of NAME: value, got a list"},
    {"env:\n  override: {A: }\n", "env.override.A: expected a value (text, number or boolean), "
				  "got null"},
    {"env:\n  override: {A: [1]}\n", "env.override.A: expected a value"},
    {"env:\n  override: {A=B: 1}\n", "env.override.A=B: invalid variable name"},
    {"env:\n  override: {A: 1, A: 2}\n", "env.override.A: duplicate key"},
    {"fs:\n  read_only: [etc/x]\n", "fs.read_only[0]: expected an absolute path pattern"},
    {"fs:\n  read_write: [1]\n", "fs.read_write[0]: expected a path pattern, got integer 1"},
    {"fs:\n  locals: []\n", "fs.locals: unknown key (did you mean 'local'?)"},
    {"agent:\n  connect: tunnel\n", "t.yaml:2:12: agent.connect: expected one of port-forward, "
				    "direct, got \"tunnel\""},
    {"agent:\n  address: localhost\n", "agent.address: expected HOST:PORT"},
    {"agent:\n  adress: a:1\n", "agent.adress: unknown key (did you mean 'address'?)"},
    {"a: \xc3\x28\n", "t.yaml: not valid UTF-8"},
};

START_TEST(bad_file)
{
	int rc = load(bad_files[_i].yaml);

	ck_assert_msg(rc == -EINVAL, "case %d: rc %d for:\n%s", _i, rc, bad_files[_i].yaml);
	ck_assert_msg(strstr(err.msg, bad_files[_i].want) != NULL, "case %d:\n got: %s\nwant: %s",
		      _i, err.msg, bad_files[_i].want);
}
END_TEST

START_TEST(list_limits)
{
	char *yaml = malloc(16 * 1024);
	size_t pos = 0;

	pos += (size_t)sprintf(yaml + pos, "incoming:\n  ports: [");
	for (int i = 1; i <= BM_CONFIG_MAX_LIST + 1; i++)
		pos += (size_t)sprintf(yaml + pos, "%s%d", i > 1 ? ", " : "", i);
	sprintf(yaml + pos, "]\n");
	ck_assert_int_eq(load(yaml), -EINVAL);
	ck_assert_msg(strstr(err.msg, "too many ports") != NULL, "%s", err.msg);
	free(yaml);
}
END_TEST

START_TEST(too_large)
{
	static char big[BM_CONFIG_MAX_FILE_SIZE + 1];

	ck_assert_int_eq(config_load_buffer("t.yaml", big, sizeof(big), &cfg, &err), -EINVAL);
	ck_assert_msg(strstr(err.msg, "file too large") != NULL, "%s", err.msg);
}
END_TEST

START_TEST(file_errors)
{
	char dir[] = "/tmp/bm-config-XXXXXX";
	char path[64];
	FILE *f;

	ck_assert_int_eq(config_load_file("/nonexistent/bpfmirror.yaml", &cfg, &err), -ENOENT);
	ck_assert_msg(strstr(err.msg, "/nonexistent/bpfmirror.yaml: cannot open") != NULL, "%s",
		      err.msg);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(config_load_file(dir, &cfg, &err), -EISDIR);
	snprintf(path, sizeof(path), "%s/c.yaml", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("incoming:\n  mode: bad\n", f);
	fclose(f);
	ck_assert_int_eq(config_load_file(path, &cfg, &err), -EINVAL);
	ck_assert_msg(strncmp(err.msg, path, strlen(path)) == 0 &&
			  strstr(err.msg, ":2:9: incoming.mode:") != NULL,
		      "%s", err.msg);
	unlink(path);
	rmdir(dir);
	/* A NULL err is allowed. */
	ck_assert_int_eq(config_load_buffer("t.yaml", "x: 1\n", 5, &cfg, NULL), -EINVAL);
}
END_TEST

START_TEST(precedence)
{
	/* defaults < file */
	ck_assert_int_eq(load("incoming:\n  ports: [80, 81]\n  mode: steal\n"
			      "env:\n  override: {A: file}\n"),
			 0);
	ck_assert_int_eq(cfg.incoming.mode, BM_MODE_STEAL);
	ck_assert_int_eq(cfg.outgoing.enabled, true); /* untouched default */
	ck_assert_int_eq(cfg.env.include.n, 1);
	/* file < flags */
	ck_assert_int_eq(config_set_option(&cfg, "incoming.mode", "mirror", &err), 0);
	ck_assert_int_eq(cfg.incoming.mode, BM_MODE_MIRROR);
	ck_assert_int_eq(config_set_option(&cfg, "incoming.ports", "9000,9001", &err), 0);
	ck_assert_int_eq(cfg.incoming.ports.n, 2);
	ck_assert_int_eq(cfg.incoming.ports.v[0], 9000);
	ck_assert_int_eq(config_append_option(&cfg, "incoming.ports", "9002", &err), 0);
	ck_assert_int_eq(cfg.incoming.ports.n, 3);
	ck_assert_int_eq(config_set_option(&cfg, "env.override.A", "flag", &err), 0);
	ck_assert_int_eq(cfg.env.override.n, 1);
	ck_assert_str_eq(cfg.env.override.v[0].value, "flag");
	ck_assert_int_eq(config_append_option(&cfg, "env.override", "B=2=3", &err), 0);
	ck_assert_str_eq(cfg.env.override.v[1].name, "B");
	ck_assert_str_eq(cfg.env.override.v[1].value, "2=3");
	ck_assert_int_eq(config_apply_assignment(&cfg, "agent.connect=direct", &err), 0);
	ck_assert_int_eq(cfg.agent.connect, BM_CONNECT_DIRECT);
	ck_assert_int_eq(config_set_option(&cfg, "outgoing.enabled", "false", &err), 0);
	ck_assert(!cfg.outgoing.enabled);
	ck_assert_int_eq(config_set_option(&cfg, "outgoing.local", "redis:6379,[::1]:5432", &err),
			 0);
	ck_assert_int_eq(cfg.outgoing.local.n, 2);
	ck_assert_int_eq(config_set_option(&cfg, "fs.read_only", "/etc/a,/etc/b", &err), 0);
	ck_assert_int_eq(cfg.fs.read_only.n, 2);
	ck_assert_int_eq(config_set_option(&cfg, "target", "deploy/web", &err), 0);
	ck_assert_str_eq(cfg.target, "deploy/web");
	/* "" resets a string key to its default. */
	ck_assert_int_eq(config_set_option(&cfg, "target", "", &err), 0);
	ck_assert_ptr_null(cfg.target);
	/* A later file load replaces lists the file names, keeps the rest. */
	ck_assert_int_eq(load("incoming:\n  ports: [7]\n"), 0);
	ck_assert_int_eq(cfg.incoming.ports.n, 1);
	ck_assert_int_eq(cfg.agent.connect, BM_CONNECT_DIRECT);
}
END_TEST

START_TEST(repeated_list_flags_replace_file)
{
	ck_assert_int_eq(load("incoming:\n  ports: [80, 81]\nfs:\n  local: [/a]\n"), 0);
	/* -p 81 -p 82: the first flag drops the file's list, the second appends. */
	ck_assert_int_eq(config_append_option(&cfg, "incoming.ports", "81", &err), 0);
	ck_assert_int_eq(cfg.incoming.ports.n, 1);
	ck_assert_int_eq(cfg.incoming.ports.v[0], 81);
	ck_assert_int_eq(config_append_option(&cfg, "incoming.ports", "82", &err), 0);
	ck_assert_int_eq(cfg.incoming.ports.n, 2);
	ck_assert_int_eq(config_append_option(&cfg, "incoming.ports", "82", &err), -EINVAL);
	ck_assert_str_eq(err.msg, "incoming.ports: port 82 is listed twice");
	/* Same for the defaults: a first env.exclude flag replaces [PATH, HOME, LD_*]. */
	ck_assert_int_eq(config_append_option(&cfg, "env.exclude", "SECRET_*", &err), 0);
	ck_assert_int_eq(cfg.env.exclude.n, 1);
	/* Lists no flag touched keep the file's items. */
	ck_assert_int_eq(cfg.fs.local.n, 1);
}
END_TEST

START_TEST(option_errors)
{
	ck_assert_int_eq(config_set_option(&cfg, "incoming.mode", "mirorr", &err), -EINVAL);
	ck_assert_str_eq(err.msg, "incoming.mode: expected one of mirror, steal, got \"mirorr\"");
	ck_assert_int_eq(config_set_option(&cfg, "incoming.prots", "1", &err), -EINVAL);
	ck_assert_str_eq(err.msg, "incoming.prots: unknown key (did you mean 'ports'?)");
	ck_assert_int_eq(config_set_option(&cfg, "incoming", "1", &err), -EINVAL);
	ck_assert_msg(strstr(err.msg, "is a section") != NULL, "%s", err.msg);
	ck_assert_int_eq(config_set_option(&cfg, "incoming.ports", "1,x", &err), -EINVAL);
	ck_assert_str_eq(err.msg, "incoming.ports: expected a port number 1..65535, got \"x\"");
	ck_assert_int_eq(config_append_option(&cfg, "incoming.mode", "steal", &err), -EINVAL);
	ck_assert_str_eq(err.msg, "incoming.mode: is not a list");
	ck_assert_int_eq(config_set_option(&cfg, "incoming.http_filter.header", "(", &err),
			 -EINVAL);
	ck_assert_msg(strstr(err.msg, "incoming.http_filter.header: invalid regular expression") ==
			  err.msg,
		      "%s", err.msg);
	ck_assert_int_eq(config_append_option(&cfg, "env.override", "novalue", &err), -EINVAL);
	ck_assert_str_eq(err.msg, "env.override: expected NAME=VALUE, got \"novalue\"");
	ck_assert_int_eq(config_apply_assignment(&cfg, "=x", &err), -EINVAL);
	ck_assert_int_eq(config_apply_assignment(&cfg, "nokey", &err), -EINVAL);
	ck_assert_int_eq(config_set_option(&cfg, "outgoing.enabled", "maybe", &err), -EINVAL);
	ck_assert_int_eq(config_set_option(&cfg, "fs.local", "relative", &err), -EINVAL);
	ck_assert_int_eq(config_set_option(&cfg, "agent.address", "nohost", &err), -EINVAL);
	ck_assert_int_eq(config_set_option(&cfg, "namespace", "Bad", &err), -EINVAL);
}
END_TEST

START_TEST(validate_filter_needs_steal)
{
	ck_assert_int_eq(load("incoming:\n  http_filter:\n    path: ^/api\n"), 0);
	ck_assert_int_eq(config_validate(&cfg, &err), -EINVAL);
	ck_assert_msg(strstr(err.msg, "t.yaml:3:5: incoming.http_filter: needs incoming.mode: "
				      "steal") == err.msg,
		      "%s", err.msg);
	/* --steal on the command line makes the same file valid. */
	ck_assert_int_eq(config_set_option(&cfg, "incoming.mode", "steal", &err), 0);
	ck_assert_int_eq(config_validate(&cfg, &err), 0);
	/* A filter given as a flag is reported without a file position. */
	ck_assert_int_eq(config_set_option(&cfg, "incoming.mode", "mirror", &err), 0);
	ck_assert_int_eq(config_set_option(&cfg, "incoming.http_filter.header", "x-dev: a", &err),
			 0);
	ck_assert_int_eq(config_validate(&cfg, &err), -EINVAL);
	ck_assert_msg(strncmp(err.msg, "incoming.http_filter: needs", 27) == 0, "%s", err.msg);
}
END_TEST

START_TEST(value_parsers)
{
	struct bm_target t;
	char host[64];
	uint16_t port;

	ck_assert_int_eq(config_parse_target("deploy/web", &t, &err), 0);
	ck_assert_str_eq(t.kind, "deployment");
	ck_assert_str_eq(t.name, "web");
	ck_assert_str_eq(t.container, "");
	ck_assert_int_eq(config_parse_target("sts/db-0.x/container/main", &t, &err), 0);
	ck_assert_str_eq(t.kind, "statefulset");
	ck_assert_str_eq(t.container, "main");
	ck_assert_int_eq(config_parse_target("pod/-x", &t, &err), -EINVAL);
	ck_assert_int_eq(config_parse_target("pod/", &t, &err), -EINVAL);
	ck_assert_int_eq(config_parse_hostport("[fe80::1]:80", host, sizeof(host), &port, &err), 0);
	ck_assert_str_eq(host, "fe80::1");
	ck_assert_int_eq(port, 80);
	ck_assert_int_eq(config_parse_hostport("[fe80::1]80", host, sizeof(host), &port, &err),
			 -EINVAL);
	ck_assert_int_eq(config_parse_hostport("a:65536", host, sizeof(host), &port, &err),
			 -EINVAL);
	ck_assert_int_eq(config_parse_port("65535", &port, &err), 0);
	ck_assert_int_eq(config_parse_port("99999999999999999999", &port, &err), -EINVAL);
	ck_assert_int_eq(config_parse_port("", &port, &err), -EINVAL);
	ck_assert_int_eq(config_check_regex("^X-Dev: (alice|bob)$", true, &err), 0);
	ck_assert_int_eq(config_check_regex("", true, &err), -EINVAL);
	ck_assert_int_eq(config_check_regex("a{1,3}b{2}", false, &err), 0);
	ck_assert_str_eq(config_mode_name(BM_MODE_STEAL), "steal");
	ck_assert_str_eq(config_connect_name(BM_CONNECT_DIRECT), "direct");
}
END_TEST

START_TEST(matching)
{
	ck_assert(config_env_selected(&cfg, "DATABASE_URL"));
	ck_assert(!config_env_selected(&cfg, "PATH"));
	ck_assert_int_eq(config_set_option(&cfg, "env.include", "APP_*,PORT", &err), 0);
	ck_assert_int_eq(config_set_option(&cfg, "env.exclude", "APP_SECRET*", &err), 0);
	ck_assert(config_env_selected(&cfg, "APP_NAME"));
	ck_assert(config_env_selected(&cfg, "PORT"));
	ck_assert(!config_env_selected(&cfg, "APP_SECRET_KEY"));
	ck_assert(!config_env_selected(&cfg, "HOME"));

	ck_assert(config_path_matches("/etc/config", "/etc/config"));
	ck_assert(config_path_matches("/etc/config", "/etc/config/app.yaml"));
	ck_assert(config_path_matches("/etc/config/", "/etc/config/a/b"));
	ck_assert(!config_path_matches("/etc/config", "/etc/configs"));
	ck_assert(config_path_matches("/var/*/log", "/var/app/log/x"));
	ck_assert(!config_path_matches("/var/*/log", "/var/a/b/log"));
	ck_assert(config_path_matches("/", "/anything"));
	ck_assert(!config_path_matches("/etc", "relative/etc"));
}
END_TEST

START_TEST(kubeconfig_home)
{
	setenv("HOME", "/home/dev", 1);
	ck_assert_int_eq(load("kubeconfig: ~/.kube/staging\n"), 0);
	ck_assert_str_eq(cfg.kubeconfig, "/home/dev/.kube/staging");
}
END_TEST

/* The filter regex's estimated cost: brackets are one atom, intervals multiply. */
START_TEST(regex_cost)
{
	ck_assert_int_eq(config_check_regex("^/api/v[0-9]{1,3}/", false, &err), 0);
	ck_assert_int_eq(config_check_regex("[]{}]{40}", false, &err), 0);
	ck_assert_int_eq(config_check_regex("[[:alpha:]]{2,}x", false, &err), 0);
	ck_assert_int_eq(config_check_regex("a{,5}", false, &err), 0); /* '{' as a literal */
	ck_assert_int_eq(config_check_regex("(((a{9}){9}){9}){9}", false, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "too complex"));
	ck_assert_int_eq(config_check_regex("a{2001}", false, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "too complex"));
	ck_assert_int_eq(config_check_regex("(a)\\1", false, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "back-references"));
	/* Inside brackets "{9}" is no interval: the bracket is one atom, repeated 40 times. */
	ck_assert_int_eq(config_check_regex("([{9}{9}{9}]{40}){40}", false, &err), 0);
}
END_TEST

START_TEST(summary_line)
{
	char buf[256];

	ck_assert_int_eq(load("target: pod/web\nincoming: {mode: steal, ports: [80]}\n"), 0);
	config_summary(&cfg, buf, sizeof(buf));
	ck_assert_msg(strstr(buf, "target pod/web") && strstr(buf, "steal on port 80"), "%s", buf);
	config_summary(&cfg, buf, 8); /* truncates, stays terminated */
	ck_assert_int_eq(strlen(buf), 7);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, full_file);
	tcase_add_test(tc, docs_examples_parse);
	tcase_add_loop_test(tc, bad_file, 0, (int)(sizeof(bad_files) / sizeof(bad_files[0])));
	tcase_add_test(tc, list_limits);
	tcase_add_test(tc, too_large);
	tcase_add_test(tc, file_errors);
	tcase_add_test(tc, precedence);
	tcase_add_test(tc, repeated_list_flags_replace_file);
	tcase_add_test(tc, option_errors);
	tcase_add_test(tc, validate_filter_needs_steal);
	tcase_add_test(tc, value_parsers);
	tcase_add_test(tc, matching);
	tcase_add_test(tc, kubeconfig_home);
	tcase_add_test(tc, summary_line);
	tcase_add_test(tc, regex_cost);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(config_suite)
