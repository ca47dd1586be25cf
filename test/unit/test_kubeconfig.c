/* Unit tests for the kubeconfig reader, the exec credential plugins and the API error mapping. */
#include "kube.h"
#include "kubeconfig.h"
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* "hello" = aGVsbG8=, "PEM" = UEVN */
static const char fixture[] = "apiVersion: v1\n"
			      "kind: Config\n"
			      "current-context: dev\n"
			      "clusters:\n"
			      "- name: staging\n"
			      "  cluster:\n"
			      "    server: https://10.0.0.1:6443/\n"
			      "    certificate-authority-data: aGVsbG8=\n"
			      "- name: local\n"
			      "  cluster:\n"
			      "    server: https://127.0.0.1:6443\n"
			      "    certificate-authority: certs/ca.crt\n"
			      "    insecure-skip-tls-verify: true\n"
			      "    tls-server-name: kubernetes\n"
			      "- name: noserver\n"
			      "  cluster: {}\n"
			      "contexts:\n"
			      "- name: dev\n"
			      "  context: {cluster: staging, user: alice, namespace: team-a}\n"
			      "- name: local\n"
			      "  context:\n"
			      "    cluster: local\n"
			      "    user: certs\n"
			      "- name: plugin\n"
			      "  context: {cluster: staging, user: exec-user}\n"
			      "- name: lost-cluster\n"
			      "  context: {cluster: gone, user: alice}\n"
			      "- name: lost-user\n"
			      "  context: {cluster: staging, user: gone}\n"
			      "- name: anonymous\n"
			      "  context: {cluster: staging}\n"
			      "- name: bad-cluster\n"
			      "  context: {cluster: noserver}\n"
			      "users:\n"
			      "- name: alice\n"
			      "  user:\n"
			      "    token: s3cret\n"
			      "- name: certs\n"
			      "  user:\n"
			      "    client-certificate-data: UEVN\n"
			      "    client-key: /abs/key.pem\n"
			      "    tokenFile: token\n"
			      "- name: exec-user\n"
			      "  user:\n"
			      "    exec:\n"
			      "      apiVersion: client.authentication.k8s.io/v1\n"
			      "      command: bin/get-token\n"
			      "      args: [--cluster, staging]\n"
			      "      env:\n"
			      "      - {name: FOO, value: bar}\n"
			      "      installHint: install get-token\n";

static struct kubeconfig *parse(const char *ctx, struct kube_err *err)
{
	memset(err, 0, sizeof(*err));
	return kubeconfig_parse(fixture, strlen(fixture), ctx, "/home/dev/.kube", err);
}

START_TEST(current_context)
{
	struct kube_err err;
	struct kubeconfig *kc = parse(NULL, &err);

	ck_assert_ptr_nonnull(kc);
	ck_assert_str_eq(kc->context, "dev");
	ck_assert_str_eq(kc->cluster, "staging");
	ck_assert_str_eq(kc->user, "alice");
	ck_assert_str_eq(kc->namespace, "team-a");
	ck_assert_str_eq(kc->server, "https://10.0.0.1:6443");
	ck_assert_str_eq(kc->token, "s3cret");
	ck_assert_uint_eq(kc->ca_data.len, 5);
	ck_assert_int_eq(memcmp(kc->ca_data.data, "hello", 5), 0);
	ck_assert(!kc->insecure);
	ck_assert_ptr_null(kc->exec);
	kubeconfig_free(kc);
}
END_TEST

START_TEST(named_context_paths)
{
	struct kube_err err;
	struct kubeconfig *kc = parse("local", &err);

	ck_assert_ptr_nonnull(kc);
	ck_assert_str_eq(kc->namespace, "default");
	ck_assert(kc->insecure);
	ck_assert_str_eq(kc->tls_server_name, "kubernetes");
	ck_assert_str_eq(kc->ca_file, "/home/dev/.kube/certs/ca.crt");
	ck_assert_str_eq(kc->token_file, "/home/dev/.kube/token");
	ck_assert_str_eq(kc->key_file, "/abs/key.pem");
	ck_assert_uint_eq(kc->cert_data.len, 3);
	ck_assert_int_eq(memcmp(kc->cert_data.data, "PEM", 3), 0);
	kubeconfig_free(kc);
}
END_TEST

START_TEST(exec_plugin_fields)
{
	struct kube_err err;
	struct kubeconfig *kc = parse("plugin", &err);

	ck_assert_ptr_nonnull(kc);
	ck_assert_ptr_nonnull(kc->exec);
	ck_assert_str_eq(kc->exec->command, "/home/dev/.kube/bin/get-token");
	ck_assert_str_eq(kc->exec->api_version, "client.authentication.k8s.io/v1");
	ck_assert_str_eq(kc->exec->args[0], "--cluster");
	ck_assert_str_eq(kc->exec->args[1], "staging");
	ck_assert_ptr_null(kc->exec->args[2]);
	ck_assert_str_eq(kc->exec->env[0], "FOO=bar");
	ck_assert_ptr_null(kc->exec->env[1]);
	ck_assert_str_eq(kc->exec->install_hint, "install get-token");
	kubeconfig_free(kc);
}
END_TEST

START_TEST(no_user_is_anonymous)
{
	struct kube_err err;
	struct kubeconfig *kc = parse("anonymous", &err);

	ck_assert_ptr_nonnull(kc);
	ck_assert_ptr_null(kc->user);
	ck_assert_ptr_null(kc->token);
	kubeconfig_free(kc);
}
END_TEST

START_TEST(errors)
{
	struct kube_err err;

	ck_assert_ptr_null(parse("nope", &err));
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_ptr_nonnull(strstr(err.msg, "context 'nope'"));
	ck_assert_ptr_nonnull(strstr(err.hint, "dev, local, plugin"));

	ck_assert_ptr_null(parse("lost-cluster", &err));
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_ptr_nonnull(strstr(err.msg, "cluster 'gone'"));
	ck_assert_ptr_nonnull(strstr(err.hint, "staging"));

	ck_assert_ptr_null(parse("lost-user", &err));
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_ptr_nonnull(strstr(err.msg, "user 'gone'"));

	ck_assert_ptr_null(parse("bad-cluster", &err));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "no server"));
}
END_TEST

START_TEST(bad_documents)
{
	static const char *const docs[] = {
	    "clusters: [\n",				      /* not YAML */
	    "- a\n- b\n",				      /* not a mapping */
	    "contexts: [{name: x, context: {cluster: c}}]\n", /* no current-context */
	    "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
	    "clusters: [{name: c, cluster: {server: 'https://a', "
	    "certificate-authority-data: '!!notbase64'}}]\n",
	    "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
	    "clusters: [{name: c, cluster: {server: 'ftp://a'}}]\n",
	    "",
	};
	struct kube_err err;

	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		memset(&err, 0, sizeof(err));
		ck_assert_ptr_null(kubeconfig_parse(docs[i], strlen(docs[i]), NULL, NULL, &err));
		ck_assert_msg(err.msg[0], "no message for document %zu", i);
	}
	memset(&err, 0, sizeof(err));
	ck_assert_ptr_null(kubeconfig_parse(docs[2], strlen(docs[2]), NULL, NULL, &err));
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_ptr_nonnull(strstr(err.hint, "--context"));
}
END_TEST

START_TEST(base64)
{
	struct kube_blob b;

	ck_assert_int_eq(kube_base64_decode("aGVsbG8=", 8, &b), 0);
	ck_assert_uint_eq(b.len, 5);
	free(b.data);
	ck_assert_int_eq(kube_base64_decode("aGVs\nbG8", 8, &b), 0);
	ck_assert_uint_eq(b.len, 5);
	ck_assert_int_eq(memcmp(b.data, "hello", 5), 0);
	free(b.data);
	ck_assert_int_eq(kube_base64_decode("", 0, &b), 0);
	ck_assert_uint_eq(b.len, 0);
	free(b.data);
	ck_assert_int_eq(kube_base64_decode("a", 1, &b), -EINVAL);
	ck_assert_int_eq(kube_base64_decode("aGVs*G8=", 8, &b), -EINVAL);
	ck_assert_int_eq(kube_base64_decode("aG=Vs", 5, &b), -EINVAL);
}
END_TEST

/* ---- files: locate, load, exec plugins ------------------------------------------- */

static char tmpdir[64];

static void write_file(const char *name, const char *text, mode_t mode)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static void setup_dir(void)
{
	char path[256];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/bpfmirror-kc-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s/.kube", tmpdir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/bin", tmpdir);
	mkdir(path, 0700);
}

static void teardown_dir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(locate)
{
	struct kube_err err = {0};
	char path[512], want[256], env[600];

	setenv("HOME", tmpdir, 1);
	unsetenv("KUBECONFIG");
	ck_assert_int_eq(kubeconfig_locate(NULL, path, sizeof(path), &err), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err.msg, "/.kube/config"));
	ck_assert_ptr_nonnull(strstr(err.hint, "--kubeconfig"));

	write_file(".kube/config", fixture, 0600);
	ck_assert_int_eq(kubeconfig_locate(NULL, path, sizeof(path), &err), 0);
	snprintf(want, sizeof(want), "%s/.kube/config", tmpdir);
	ck_assert_str_eq(path, want);

	/* $KUBECONFIG: the first existing file of the list. */
	write_file("other", fixture, 0600);
	snprintf(env, sizeof(env), "%s/missing:%s/other:%s", tmpdir, tmpdir, want);
	setenv("KUBECONFIG", env, 1);
	ck_assert_int_eq(kubeconfig_locate(NULL, path, sizeof(path), &err), 0);
	snprintf(want, sizeof(want), "%s/other", tmpdir);
	ck_assert_str_eq(path, want);

	snprintf(env, sizeof(env), "%s/missing", tmpdir);
	setenv("KUBECONFIG", env, 1);
	ck_assert_int_eq(kubeconfig_locate(NULL, path, sizeof(path), &err), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err.msg, "$KUBECONFIG"));

	ck_assert_int_eq(kubeconfig_locate(env, path, sizeof(path), &err), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err.msg, "--kubeconfig"));
	unsetenv("KUBECONFIG");
}
END_TEST

START_TEST(load_names_file)
{
	struct kube_err err = {0};
	char path[256];
	struct kubeconfig *kc;

	write_file("config", fixture, 0600);
	snprintf(path, sizeof(path), "%s/config", tmpdir);
	kc = kubeconfig_load(path, "plugin", &err);
	ck_assert_ptr_nonnull(kc);
	ck_assert_str_eq(kc->path, path);
	/* Relative plugin path is taken against the file's directory. */
	ck_assert_ptr_nonnull(strstr(kc->exec->command, tmpdir));
	kubeconfig_free(kc);

	write_file("broken", "a: [\n", 0600);
	snprintf(path, sizeof(path), "%s/broken", tmpdir);
	ck_assert_ptr_null(kubeconfig_load(path, NULL, &err));
	ck_assert_ptr_nonnull(strstr(err.msg, path));
}
END_TEST

static struct kubeconfig *exec_config(const char *script)
{
	char doc[1024];
	struct kube_err err = {0};
	struct kubeconfig *kc;

	write_file("bin/plugin", script, 0700);
	snprintf(doc, sizeof(doc),
		 "current-context: c\n"
		 "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
		 "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:1'}}]\n"
		 "users:\n"
		 "- name: u\n"
		 "  user:\n"
		 "    exec:\n"
		 "      apiVersion: client.authentication.k8s.io/v1beta1\n"
		 "      command: bin/plugin\n"
		 "      args: [one, two]\n"
		 "      env: [{name: TOKEN_PREFIX, value: tok}]\n"
		 "      installHint: see the docs\n");
	kc = kubeconfig_parse(doc, strlen(doc), NULL, tmpdir, &err);
	ck_assert_ptr_nonnull(kc);
	return kc;
}

START_TEST(exec_token)
{
	struct kubeconfig *kc = exec_config(
	    "#!/bin/sh\n"
	    "case \"$KUBERNETES_EXEC_INFO\" in *ExecCredential*) ;; *) exit 3;; esac\n"
	    "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",'\n"
	    "printf '\"kind\":\"ExecCredential\",\"status\":{\"token\":\"%s-%s-%s\"}}\\n' "
	    "\"$TOKEN_PREFIX\" \"$1\" \"$2\"\n");
	struct kube_exec_cred cred;
	struct kube_err err = {0};

	ck_assert_int_eq(kube_exec_credential(kc, &cred, &err), 0);
	ck_assert_str_eq(cred.token, "tok-one-two");
	kube_exec_cred_clear(&cred);
	ck_assert_ptr_null(cred.token);
	kubeconfig_free(kc);
}
END_TEST

START_TEST(exec_failures)
{
	struct kube_exec_cred cred;
	struct kube_err err = {0};
	struct kubeconfig *kc;

	kc = exec_config("#!/bin/sh\nexit 4\n");
	ck_assert_int_eq(kube_exec_credential(kc, &cred, &err), -EIO);
	ck_assert_ptr_nonnull(strstr(err.msg, "exit status 4"));
	ck_assert_str_eq(err.hint, "see the docs");
	kubeconfig_free(kc);

	kc = exec_config("#!/bin/sh\necho not json\n");
	ck_assert_int_eq(kube_exec_credential(kc, &cred, &err), -EBADMSG);
	kubeconfig_free(kc);

	kc = exec_config("#!/bin/sh\necho '{\"kind\":\"ExecCredential\",\"status\":{}}'\n");
	ck_assert_int_eq(kube_exec_credential(kc, &cred, &err), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err.msg, "neither"));
	kubeconfig_free(kc);

	kc = exec_config("#!/bin/sh\n");
	free(kc->exec->command);
	kc->exec->command = strdup("/nonexistent/bpfmirror-plugin");
	ck_assert_int_eq(kube_exec_credential(kc, &cred, &err), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err.msg, "cannot run"));
	kubeconfig_free(kc);
}
END_TEST

START_TEST(status_mapping)
{
	static const char st[] =
	    "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
	    "\"message\":\"pods \\\"x\\\" not found\",\"reason\":\"NotFound\","
	    "\"code\":404}";
	struct kube_err err = {0};

	ck_assert_int_eq(kube_status_error(404, st, strlen(st), "GET /x", &err), -ENOENT);
	ck_assert_str_eq(err.msg, "not found: pods \"x\" not found");
	ck_assert_int_eq(kube_status_error(401, NULL, 0, "GET /x", &err), -EACCES);
	ck_assert_ptr_nonnull(strstr(err.msg, "credentials"));
	ck_assert_int_eq(kube_status_error(403, "{}", 2, "GET /x", &err), -EPERM);
	ck_assert_str_eq(err.msg, "not allowed: GET /x");
	ck_assert_int_eq(kube_status_error(503, "oops", 4, "GET /x", &err), -EIO);
	ck_assert_int_eq(kube_status_error(429, NULL, 0, "GET /x", &err), -EAGAIN);
	ck_assert_int_eq(kube_status_error(400, NULL, 0, "GET /x", &err), -EPROTO);
}
END_TEST

START_TEST(client_unreachable)
{
	static const char doc[] = "current-context: c\n"
				  "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
				  "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:1', "
				  "tls-server-name: kubernetes}}]\n"
				  "users: [{name: u, user: {token: abc}}]\n";
	struct kube_err err = {0};
	struct kubeconfig *kc = kubeconfig_parse(doc, strlen(doc), NULL, NULL, &err);
	struct kube_client *c;
	json_object *out;

	ck_assert_ptr_nonnull(kc);
	c = kube_client_new(kc, &err);
	kubeconfig_free(kc);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(kube_get(c, "/api", &out, &err), -ECONNREFUSED);
	ck_assert_ptr_nonnull(strstr(err.msg, "https://127.0.0.1:1"));
	kube_client_free(c);
}
END_TEST

static Suite *kubeconfig_suite(void)
{
	Suite *s = suite_create("kubeconfig");
	TCase *tc = tcase_create("parse");
	TCase *tf = tcase_create("files");

	tcase_add_test(tc, current_context);
	tcase_add_test(tc, named_context_paths);
	tcase_add_test(tc, exec_plugin_fields);
	tcase_add_test(tc, no_user_is_anonymous);
	tcase_add_test(tc, errors);
	tcase_add_test(tc, bad_documents);
	tcase_add_test(tc, base64);
	tcase_add_test(tc, status_mapping);
	tcase_add_test(tc, client_unreachable);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(tf, setup_dir, teardown_dir);
	tcase_add_test(tf, locate);
	tcase_add_test(tf, load_names_file);
	tcase_add_test(tf, exec_token);
	tcase_add_test(tf, exec_failures);
	suite_add_tcase(s, tf);
	return s;
}

TEST_MAIN(kubeconfig_suite)
