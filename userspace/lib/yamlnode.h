/*
 * Small helpers over libyaml's document API, shared by the three YAML
 * readers (bpfmirror.yaml, kubeconfig, the agent's policy): load a document
 * with a "name:line:col: problem" error, and look nodes up without repeating
 * the type checks in each reader.
 */
#ifndef BPFMIRROR_YAMLNODE_H
#define BPFMIRROR_YAMLNODE_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

/*
 * Parses TEXT, which must hold one YAML document, into DOC
 * (yaml_document_delete() it). On a syntax error, bad UTF-8 or a second
 * document returns -EINVAL and writes "NAME:line:col: problem" to ERR
 * ("line L, column C: problem" when NAME is NULL); -ENOMEM when libyaml runs
 * out of memory. An empty text gives a document without a root node.
 */
int ynode_load(yaml_document_t *doc, const char *text, size_t len, const char *name, char *err,
	       size_t errlen);

/* The node with ID, or NULL. */
yaml_node_t *ynode_at(yaml_document_t *doc, int id);

/* The scalar text of N, or NULL if N is missing, not a scalar or holds a NUL byte. */
const char *ynode_scalar(const yaml_node_t *n);

/* YAML's null: a missing node, "", "~" or "null". */
bool ynode_is_null(const yaml_node_t *n);

/* The value of KEY in mapping MAP, or NULL (also when MAP is not a mapping). */
yaml_node_t *ynode_map_get(yaml_document_t *doc, const yaml_node_t *map, const char *key);

/* 1-based line and column of N, for messages (0 for a missing node). */
size_t ynode_line(const yaml_node_t *n);
size_t ynode_col(const yaml_node_t *n);

/* Iterates the key/value pairs of mapping MAP: for (pair ...) { } */
#define ynode_for_each_pair(map, p)                                                                \
	for (yaml_node_pair_t *p = (map)->data.mapping.pairs.start;                                \
	     p < (map)->data.mapping.pairs.top; p++)

/* Iterates the item ids of sequence SEQ. */
#define ynode_for_each_item(seq, it)                                                               \
	for (yaml_node_item_t *it = (seq)->data.sequence.items.start;                              \
	     it < (seq)->data.sequence.items.top; it++)

#endif
