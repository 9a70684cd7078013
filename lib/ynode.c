/*
 * YAML to a positioned node tree, with libyaml's event parser.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "ynode.h"

static void
ynode_errf(char *err, size_t errlen, const char *file, size_t line,
    size_t col, const char *msg)
{
	if (err != NULL && errlen > 0)
		(void)snprintf(err, errlen, "%s:%zu:%zu: %s", file, line + 1,
		    col + 1, msg);
}

static struct ynode *
ynode_new(enum ynode_type type, const char *file, const yaml_mark_t *m)
{
	struct ynode	*n;

	if ((n = calloc(1, sizeof(*n))) == NULL)
		return NULL;
	n->type = type;
	n->file = file;
	n->line = (int)m->line + 1;
	n->column = (int)m->column + 1;
	return n;
}

static int
ynode_append(struct ynode *parent, struct ynode *key, struct ynode *item)
{
	struct ynode	**items, **keys;
	size_t		  n = parent->nitems + 1;

	if ((items = reallocarray(parent->items, n, sizeof(*items))) == NULL)
		return -1;
	parent->items = items;
	if (parent->type == YNODE_MAP) {
		if ((keys = reallocarray(parent->keys, n,
		    sizeof(*keys))) == NULL)
			return -1;
		parent->keys = keys;
		keys[n - 1] = key;
	}
	items[n - 1] = item;
	parent->nitems = n;
	return 0;
}

static void
ynode_free_node(struct ynode *n)
{
	size_t	i;

	if (n == NULL)
		return;
	for (i = 0; i < n->nitems; i++) {
		if (n->keys != NULL)
			ynode_free_node(n->keys[i]);
		ynode_free_node(n->items[i]);
	}
	free(n->keys);
	free(n->items);
	free(n->value);
	free(n);
}

/*
 * Parses one node whose first event is ev (already taken from the parser).
 * Returns the node or NULL with err set.
 */
static struct ynode *
ynode_build(yaml_parser_t *p, yaml_event_t *ev, const char *file, int depth,
    char *err, size_t errlen)
{
	struct ynode	*n = NULL, *key = NULL, *item;
	yaml_event_t	 sub;
	size_t		 i;

	if (depth > YNODE_MAX_DEPTH) {
		ynode_errf(err, errlen, file, ev->start_mark.line,
		    ev->start_mark.column, "nesting too deep");
		return NULL;
	}
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		ynode_errf(err, errlen, file, ev->start_mark.line,
		    ev->start_mark.column,
		    "YAML aliases are not supported in the configuration");
		return NULL;
	case YAML_SCALAR_EVENT:
		if (ev->data.scalar.anchor != NULL) {
			ynode_errf(err, errlen, file, ev->start_mark.line,
			    ev->start_mark.column,
			    "YAML anchors are not supported in the configuration");
			return NULL;
		}
		if ((n = ynode_new(YNODE_SCALAR, file, &ev->start_mark)) == NULL)
			goto nomem;
		n->valuelen = ev->data.scalar.length;
		if ((n->value = malloc(n->valuelen + 1)) == NULL) {
			free(n);
			goto nomem;
		}
		memcpy(n->value, ev->data.scalar.value, n->valuelen);
		n->value[n->valuelen] = '\0';
		if (memchr(n->value, '\0', n->valuelen) != NULL) {
			ynode_errf(err, errlen, file, ev->start_mark.line,
			    ev->start_mark.column, "NUL byte in a value");
			ynode_free_node(n);
			return NULL;
		}
		n->quoted = ev->data.scalar.style ==
		    YAML_SINGLE_QUOTED_SCALAR_STYLE ||
		    ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
		return n;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if ((ev->type == YAML_SEQUENCE_START_EVENT &&
		    ev->data.sequence_start.anchor != NULL) ||
		    (ev->type == YAML_MAPPING_START_EVENT &&
		    ev->data.mapping_start.anchor != NULL)) {
			ynode_errf(err, errlen, file, ev->start_mark.line,
			    ev->start_mark.column,
			    "YAML anchors are not supported in the configuration");
			return NULL;
		}
		n = ynode_new(ev->type == YAML_SEQUENCE_START_EVENT ?
		    YNODE_SEQ : YNODE_MAP, file, &ev->start_mark);
		if (n == NULL)
			goto nomem;
		for (;;) {
			if (!yaml_parser_parse(p, &sub)) {
				ynode_errf(err, errlen, file,
				    p->problem_mark.line, p->problem_mark.column,
				    p->problem != NULL ? p->problem :
				    "YAML syntax error");
				goto fail;
			}
			if (sub.type == YAML_SEQUENCE_END_EVENT ||
			    sub.type == YAML_MAPPING_END_EVENT) {
				yaml_event_delete(&sub);
				return n;
			}
			item = ynode_build(p, &sub, file, depth + 1, err,
			    errlen);
			yaml_event_delete(&sub);
			if (item == NULL)
				goto fail;
			if (n->type == YNODE_MAP && key == NULL) {
				if (item->type != YNODE_SCALAR) {
					ynode_errf(err, errlen, file,
					    (size_t)item->line - 1,
					    (size_t)item->column - 1,
					    "a mapping key must be a scalar");
					ynode_free_node(item);
					goto fail;
				}
				for (i = 0; i < n->nitems; i++)
					if (strcmp(n->keys[i]->value,
					    item->value) == 0)
						break;
				if (i < n->nitems) {
					char	msg[256];

					(void)snprintf(msg, sizeof(msg),
					    "duplicate key '%.100s' (first at "
					    "line %d)", item->value,
					    n->keys[i]->line);
					ynode_errf(err, errlen, file,
					    (size_t)item->line - 1,
					    (size_t)item->column - 1, msg);
					ynode_free_node(item);
					goto fail;
				}
				key = item;
				continue;
			}
			if (ynode_append(n, key, item) == -1) {
				ynode_free_node(item);
				goto nomem;
			}
			key = NULL;
		}
	default:
		ynode_errf(err, errlen, file, ev->start_mark.line,
		    ev->start_mark.column, "unexpected YAML event");
		return NULL;
	}
nomem:
	if (err != NULL && errlen > 0)
		(void)snprintf(err, errlen, "%s: out of memory", file);
fail:
	ynode_free_node(key);
	ynode_free_node(n);
	return NULL;
}

struct ynode *
ynode_parse(const char *file, const char *text, size_t len, char *err,
    size_t errlen)
{
	yaml_parser_t	 p;
	yaml_event_t	 ev;
	struct ynode	*root = NULL, *extra;
	char		*fname;
	int		 done = 0;

	if (len > YNODE_MAX_BYTES) {
		(void)snprintf(err, errlen, "%s: file too large (%zu bytes, "
		    "at most %d)", file, len, YNODE_MAX_BYTES);
		return NULL;
	}
	/* Every node points at this one copy; ynode_free() frees it. */
	if ((fname = strdup(file)) == NULL) {
		(void)snprintf(err, errlen, "%s: out of memory", file);
		return NULL;
	}
	if (!yaml_parser_initialize(&p)) {
		free(fname);
		(void)snprintf(err, errlen, "%s: out of memory", file);
		return NULL;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	while (!done) {
		if (!yaml_parser_parse(&p, &ev)) {
			ynode_errf(err, errlen, fname, p.problem_mark.line,
			    p.problem_mark.column, p.problem != NULL ?
			    p.problem : "YAML syntax error");
			goto fail;
		}
		switch (ev.type) {
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_END_EVENT:
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (root != NULL) {
				ynode_errf(err, errlen, fname,
				    ev.start_mark.line, ev.start_mark.column,
				    "only one YAML document is allowed");
				yaml_event_delete(&ev);
				goto fail;
			}
			break;
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		default:
			extra = ynode_build(&p, &ev, fname, 0, err, errlen);
			if (extra == NULL) {
				yaml_event_delete(&ev);
				goto fail;
			}
			root = extra;
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	if (root == NULL) {
		/* An empty file is an empty mapping: the caller reports what
		 * is missing from it. */
		yaml_mark_t m = { 0, 0, 0 };

		if ((root = ynode_new(YNODE_MAP, fname, &m)) == NULL) {
			free(fname);
			(void)snprintf(err, errlen, "%s: out of memory", file);
			return NULL;
		}
	}
	return root;
fail:
	yaml_parser_delete(&p);
	ynode_free_node(root);
	free(fname);
	return NULL;
}

struct ynode *
ynode_parse_file(const char *path, char *err, size_t errlen)
{
	struct ynode	*root;
	struct stat	 st;
	char		*buf;
	size_t		 off = 0;
	ssize_t		 r;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		(void)snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		(void)snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return NULL;
	}
	if (st.st_size > YNODE_MAX_BYTES) {
		(void)snprintf(err, errlen, "%s: file too large (%lld bytes, "
		    "at most %d)", path, (long long)st.st_size,
		    YNODE_MAX_BYTES);
		close(fd);
		return NULL;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		(void)snprintf(err, errlen, "%s: out of memory", path);
		close(fd);
		return NULL;
	}
	while (off < (size_t)st.st_size) {
		r = read(fd, buf + off, (size_t)st.st_size - off);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	close(fd);
	root = ynode_parse(path, buf, off, err, errlen);
	free(buf);
	return root;
}

void
ynode_free(struct ynode *root)
{
	char	*fname;

	if (root == NULL)
		return;
	/* Every node shares the root's file name copy. */
	fname = (char *)(uintptr_t)root->file;
	ynode_free_node(root);
	free(fname);
}

struct ynode *
ynode_get(const struct ynode *n, const char *key)
{
	size_t	i;

	if (n == NULL || n->type != YNODE_MAP)
		return NULL;
	for (i = 0; i < n->nitems; i++)
		if (strcmp(n->keys[i]->value, key) == 0)
			return n->items[i];
	return NULL;
}

const char *
ynode_where(const struct ynode *n, char *buf, size_t len)
{
	(void)snprintf(buf, len, "%s:%d:%d", n->file, n->line, n->column);
	return buf;
}

const char *
ynode_type_name(enum ynode_type t)
{
	switch (t) {
	case YNODE_SCALAR:
		return "scalar";
	case YNODE_SEQ:
		return "sequence";
	default:
		return "mapping";
	}
}

int
ynode_is_null(const struct ynode *n)
{
	if (n->type != YNODE_SCALAR || n->quoted)
		return 0;
	return n->valuelen == 0 || strcmp(n->value, "~") == 0 ||
	    strcmp(n->value, "null") == 0 || strcmp(n->value, "Null") == 0 ||
	    strcmp(n->value, "NULL") == 0;
}
