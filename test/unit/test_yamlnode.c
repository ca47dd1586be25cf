/* Unit tests for the shared libyaml document helpers. */
#include "testutil.h"
#include "yamlnode.h"

#include <errno.h>
#include <string.h>

START_TEST(looks_up_nodes)
{
	static const char text[] = "a: 1\nb:\n  c: hello\n  d: ~\nlist: [x, y]\n";
	yaml_document_t doc;
	yaml_node_t *root, *b, *list;
	char err[128];
	int n = 0;

	ck_assert_int_eq(ynode_load(&doc, text, strlen(text), "t.yaml", err, sizeof(err)), 0);
	root = yaml_document_get_root_node(&doc);
	ck_assert_str_eq(ynode_scalar(ynode_map_get(&doc, root, "a")), "1");
	b = ynode_map_get(&doc, root, "b");
	ck_assert_str_eq(ynode_scalar(ynode_map_get(&doc, b, "c")), "hello");
	ck_assert(ynode_is_null(ynode_map_get(&doc, b, "d")));
	ck_assert(ynode_is_null(ynode_map_get(&doc, b, "nope")));
	ck_assert(!ynode_is_null(ynode_map_get(&doc, b, "c")));
	ck_assert_ptr_null(ynode_map_get(&doc, ynode_map_get(&doc, root, "a"), "x"));
	ck_assert_ptr_null(ynode_scalar(b));
	ck_assert_uint_eq(ynode_line(b), 3);
	ck_assert_uint_eq(ynode_col(b), 3);
	list = ynode_map_get(&doc, root, "list");
	ynode_for_each_item(list, it) n += ynode_scalar(ynode_at(&doc, *it)) != NULL;
	ck_assert_int_eq(n, 2);
	yaml_document_delete(&doc);
}
END_TEST

START_TEST(reports_syntax_errors)
{
	static const char text[] = "a: 1\nb: [unclosed\n";
	yaml_document_t doc;
	char err[128] = "";

	ck_assert_int_eq(ynode_load(&doc, text, strlen(text), "bad.yaml", err, sizeof(err)),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "bad.yaml:"));
	ck_assert_int_eq(ynode_load(&doc, "", 0, "empty", err, sizeof(err)), 0);
	ck_assert_ptr_null(yaml_document_get_root_node(&doc));
	yaml_document_delete(&doc);
}
END_TEST

static Suite *yamlnode_suite(void)
{
	Suite *s = suite_create("yamlnode");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, looks_up_nodes);
	tcase_add_test(tc, reports_syntax_errors);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(yamlnode_suite)
