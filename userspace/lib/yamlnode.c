/* libyaml document helpers shared by the YAML readers. */
#include "yamlnode.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int ynode_load(yaml_document_t *doc, const char *text, size_t len, const char *name, char *err,
	       size_t errlen)
{
	yaml_parser_t parser;
	int rc = 0;

	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, doc)) {
		if (parser.error == YAML_MEMORY_ERROR) {
			rc = -ENOMEM;
		} else {
			snprintf(err, errlen, "%s:%zu:%zu: %s", name, parser.problem_mark.line + 1,
				 parser.problem_mark.column + 1,
				 parser.problem ? parser.problem : "YAML syntax error");
			rc = -EINVAL;
		}
	}
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
