/* libyaml document helpers shared by the YAML readers. */
#include "yamlnode.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Where a message points: "NAME:L:C" or, without a name, "line L, column C". */
static void where(char *buf, size_t len, const char *name, yaml_mark_t m)
{
	if (name)
		snprintf(buf, len, "%s:%zu:%zu", name, m.line + 1, m.column + 1);
	else
		snprintf(buf, len, "line %zu, column %zu", m.line + 1, m.column + 1);
}

static int syntax_error(const yaml_parser_t *parser, const char *name, char *err, size_t errlen)
{
	const char *what = parser->problem ? parser->problem : "invalid input";
	char at[300];

	if (parser->error == YAML_MEMORY_ERROR)
		return -ENOMEM;
	if (parser->error == YAML_READER_ERROR) {
		snprintf(err, errlen, "%s%snot valid UTF-8 text: %s at byte %zu", name ? name : "",
			 name ? ": " : "", what, parser->problem_offset);
		return -EINVAL;
	}
	where(at, sizeof(at), name, parser->problem_mark);
	if (parser->context)
		snprintf(err, errlen,
			 "%s: YAML syntax error: %s (%s started at line %zu, column %zu)", at, what,
			 parser->context, parser->context_mark.line + 1,
			 parser->context_mark.column + 1);
	else
		snprintf(err, errlen, "%s: YAML syntax error: %s", at, what);
	return -EINVAL;
}

/* A second document would be silently ignored: refuse it instead. */
static int no_second_document(yaml_parser_t *parser, const char *name, char *err, size_t errlen)
{
	yaml_document_t extra;
	char at[300];
	int rc = 0;

	if (!yaml_parser_load(parser, &extra))
		return syntax_error(parser, name, err, errlen);
	if (yaml_document_get_root_node(&extra)) {
		where(at, sizeof(at), name, extra.start_mark);
		snprintf(err, errlen, "%s: a second YAML document; put everything in one", at);
		rc = -EINVAL;
	}
	yaml_document_delete(&extra);
	return rc;
}

int ynode_load(yaml_document_t *doc, const char *text, size_t len, const char *name, char *err,
	       size_t errlen)
{
	yaml_parser_t parser;
	int rc;

	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, doc)) {
		rc = syntax_error(&parser, name, err, errlen);
		goto out;
	}
	rc = no_second_document(&parser, name, err, errlen);
	if (rc)
		yaml_document_delete(doc);
out:
	yaml_parser_delete(&parser);
	return rc;
}

yaml_node_t *ynode_at(yaml_document_t *doc, int id)
{
	return yaml_document_get_node(doc, id);
}

const char *ynode_scalar(const yaml_node_t *n)
{
	if (!n || n->type != YAML_SCALAR_NODE)
		return NULL;
	if (memchr(n->data.scalar.value, '\0', n->data.scalar.length))
		return NULL;
	return (const char *)n->data.scalar.value;
}

bool ynode_is_null(const yaml_node_t *n)
{
	const char *s;

	if (!n)
		return true;
	s = ynode_scalar(n);
	return s && (!s[0] || strcmp(s, "~") == 0 || strcmp(s, "null") == 0);
}

yaml_node_t *ynode_map_get(yaml_document_t *doc, const yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	ynode_for_each_pair(map, p)
	{
		const char *k = ynode_scalar(ynode_at(doc, p->key));

		if (k && strcmp(k, key) == 0)
			return ynode_at(doc, p->value);
	}
	return NULL;
}

size_t ynode_line(const yaml_node_t *n)
{
	return n ? n->start_mark.line + 1 : 0;
}

size_t ynode_col(const yaml_node_t *n)
{
	return n ? n->start_mark.column + 1 : 0;
}
