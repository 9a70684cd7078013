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

/* One parse: where errors go, and what it has cost so far. */
struct ynode_ctx {
	const char	*file;
	char		*err;
	size_t		 errlen;
	size_t		 nodes;
	const struct ynode_stream *stream;	/* or NULL */
	int		 stream_next;	/* the node built next is streamed */
};

/*
 * Keys seen in one mapping, hashed: checking each new key against every
 * earlier one made a mapping of n keys cost n^2 / 2 string compares
 * (100,000 unknown top-level keys took a minute).  Open addressing on
 * indexes into the map's keys, at most half full.
 */
struct ynode_seen {
	size_t		*slots;		/* index + 1; 0 is empty */
	size_t		 nslots;	/* a power of 2, or 0 */
};

/* Below this many keys a linear scan is cheaper than a table. */
#define YNODE_HASH_MIN	16

static uint64_t
ynode_hash(const char *s, size_t len)
{
	uint64_t	h = 14695981039346656037ULL;	/* FNV-1a */
	size_t		i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static void
ynode_seen_put(struct ynode_seen *t, const struct ynode *map, size_t idx)
{
	const struct ynode	*k = map->keys[idx];
	size_t			 i;

	i = (size_t)ynode_hash(k->value, k->valuelen) & (t->nslots - 1);
	while (t->slots[i] != 0)
		i = (i + 1) & (t->nslots - 1);
	t->slots[i] = idx + 1;
}

/* Adds the map's last key, rebuilding the table when it is due; 0 or -1. */
static int
ynode_seen_add(struct ynode_seen *t, const struct ynode *map)
{
	size_t	*slots, n, i;

	if (t->nslots != 0 && map->nitems * 2 < t->nslots) {
		ynode_seen_put(t, map, map->nitems - 1);
		return 0;
	}
	if (map->nitems < YNODE_HASH_MIN)
		return 0;
	for (n = t->nslots ? t->nslots : 64; n <= map->nitems * 2; n *= 2)
		;
	if ((slots = calloc(n, sizeof(*slots))) == NULL)
		return -1;
	free(t->slots);
	t->slots = slots;
	t->nslots = n;
	for (i = 0; i < map->nitems; i++)
		ynode_seen_put(t, map, i);
	return 0;
}

/* The index of a key of map equal to key, or map->nitems. */
static size_t
ynode_seen_find(const struct ynode_seen *t, const struct ynode *map,
    const struct ynode *key)
{
	const struct ynode	*k;
	size_t			 i;

	if (t->nslots == 0) {
		for (i = 0; i < map->nitems; i++)
			if (map->keys[i]->valuelen == key->valuelen &&
			    memcmp(map->keys[i]->value, key->value,
			    key->valuelen) == 0)
				return i;
		return map->nitems;
	}
	i = (size_t)ynode_hash(key->value, key->valuelen) & (t->nslots - 1);
	for (; t->slots[i] != 0; i = (i + 1) & (t->nslots - 1)) {
		k = map->keys[t->slots[i] - 1];
		if (k->valuelen == key->valuelen &&
		    memcmp(k->value, key->value, key->valuelen) == 0)
			return t->slots[i] - 1;
	}
	return map->nitems;
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

/* Grows by doubling: one slot at a time copied a long list over and
 * over (realloc cannot always grow in place). */
static int
ynode_append(struct ynode *parent, struct ynode *key, struct ynode *item)
{
	struct ynode	**items, **keys;
	size_t		  n = parent->nitems + 1, cap = parent->nalloc;

	if (n > cap) {
		cap = cap < 4 ? 4 : cap * 2;
		if ((items = reallocarray(parent->items, cap,
		    sizeof(*items))) == NULL)
			return -1;
		parent->items = items;
		if (parent->type == YNODE_MAP) {
			if ((keys = reallocarray(parent->keys, cap,
			    sizeof(*keys))) == NULL)
				return -1;
			parent->keys = keys;
		}
		parent->nalloc = cap;
	}
	if (parent->type == YNODE_MAP)
		parent->keys[n - 1] = key;
	parent->items[n - 1] = item;
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

static void
ynode_ctx_err(struct ynode_ctx *c, size_t line, size_t col, const char *msg)
{
	ynode_errf(c->err, c->errlen, c->file, line, col, msg);
}

/* Anchors, aliases and tags change what a value means in ways the
 * configuration does not support: refused where they are written. */
static int
ynode_refuse_extras(struct ynode_ctx *c, const yaml_event_t *ev)
{
	const yaml_char_t	*anchor = NULL, *tag = NULL;

	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
		break;
	default:
		return 0;
	}
	if (anchor != NULL) {
		ynode_ctx_err(c, ev->start_mark.line, ev->start_mark.column,
		    "YAML anchors are not supported in the configuration");
		return -1;
	}
	if (tag != NULL) {
		static const char	 core[] = "tag:yaml.org,2002:";
		const char		*t = (const char *)tag;
		char			 msg[160];

		/* Named as written: "!!str", not its expansion. */
		if (strncmp(t, core, sizeof(core) - 1) == 0)
			(void)snprintf(msg, sizeof(msg), "YAML tags are not "
			    "supported in the configuration (tag '!!%.64s')",
			    t + sizeof(core) - 1);
		else
			(void)snprintf(msg, sizeof(msg), "YAML tags are not "
			    "supported in the configuration (tag '%.64s')", t);
		ynode_ctx_err(c, ev->start_mark.line, ev->start_mark.column,
		    msg);
		return -1;
	}
	return 0;
}

/*
 * Parses one node whose first event is ev (already taken from the parser).
 * Returns the node or NULL with the error set.
 */
static struct ynode *
ynode_build(yaml_parser_t *p, yaml_event_t *ev, struct ynode_ctx *c,
    int depth)
{
	struct ynode		*n = NULL, *key = NULL, *item;
	struct ynode_seen	 seen = { NULL, 0 };
	yaml_event_t		 sub;
	size_t			 i, nstreamed = 0;
	int			 stream = c->stream_next;

	c->stream_next = 0;
	if (depth > YNODE_MAX_DEPTH) {
		ynode_ctx_err(c, ev->start_mark.line, ev->start_mark.column,
		    "nesting too deep");
		return NULL;
	}
	if (++c->nodes > YNODE_MAX_NODES) {
		char	msg[128];

		(void)snprintf(msg, sizeof(msg), "too many YAML nodes (at most "
		    "%d)", YNODE_MAX_NODES);
		ynode_ctx_err(c, ev->start_mark.line, ev->start_mark.column,
		    msg);
		return NULL;
	}
	if (ynode_refuse_extras(c, ev) == -1)
		return NULL;
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		ynode_ctx_err(c, ev->start_mark.line, ev->start_mark.column,
		    "YAML aliases are not supported in the configuration");
		return NULL;
	case YAML_SCALAR_EVENT:
		if ((n = ynode_new(YNODE_SCALAR, c->file,
		    &ev->start_mark)) == NULL)
			goto nomem;
		n->valuelen = ev->data.scalar.length;
		if ((n->value = malloc(n->valuelen + 1)) == NULL) {
			free(n);
			goto nomem;
		}
		memcpy(n->value, ev->data.scalar.value, n->valuelen);
		n->value[n->valuelen] = '\0';
		if (memchr(n->value, '\0', n->valuelen) != NULL) {
			ynode_ctx_err(c, ev->start_mark.line,
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
		n = ynode_new(ev->type == YAML_SEQUENCE_START_EVENT ?
		    YNODE_SEQ : YNODE_MAP, c->file, &ev->start_mark);
		if (n == NULL)
			goto nomem;
		for (;;) {
			if (!yaml_parser_parse(p, &sub)) {
				ynode_ctx_err(c, p->problem_mark.line,
				    p->problem_mark.column, p->problem != NULL ?
				    p->problem : "YAML syntax error");
				goto fail;
			}
			if (sub.type == YAML_SEQUENCE_END_EVENT ||
			    sub.type == YAML_MAPPING_END_EVENT) {
				yaml_event_delete(&sub);
				free(seen.slots);
				return n;
			}
			/* The root's streamed key: its value's items go to
			 * the stream as they come. */
			c->stream_next = depth == 0 && key != NULL &&
			    c->stream != NULL && sub.type ==
			    YAML_SEQUENCE_START_EVENT &&
			    strcmp(key->value, c->stream->key) == 0;
			item = ynode_build(p, &sub, c, depth + 1);
			yaml_event_delete(&sub);
			if (item == NULL)
				goto fail;
			if (stream && n->type == YNODE_SEQ) {
				c->stream->item(c->stream->arg, item,
				    nstreamed++);
				continue;
			}
			if (n->type == YNODE_MAP && key == NULL) {
				if (item->type != YNODE_SCALAR) {
					ynode_ctx_err(c,
					    (size_t)item->line - 1,
					    (size_t)item->column - 1,
					    "a mapping key must be a scalar");
					ynode_free_node(item);
					goto fail;
				}
				if ((i = ynode_seen_find(&seen, n, item)) <
				    n->nitems) {
					char	msg[256];

					(void)snprintf(msg, sizeof(msg),
					    "duplicate key '%.100s' (first at "
					    "line %d)", item->value,
					    n->keys[i]->line);
					ynode_ctx_err(c,
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
			if (n->type == YNODE_MAP &&
			    ynode_seen_add(&seen, n) == -1)
				goto nomem;
		}
	default:
		ynode_ctx_err(c, ev->start_mark.line, ev->start_mark.column,
		    "unexpected YAML event");
		return NULL;
	}
nomem:
	if (c->err != NULL && c->errlen > 0)
		(void)snprintf(c->err, c->errlen, "%s: out of memory", c->file);
fail:
	free(seen.slots);
	ynode_free_node(key);
	ynode_free_node(n);
	return NULL;
}

struct ynode *
ynode_parse(const char *file, const char *text, size_t len, char *err,
    size_t errlen)
{
	return ynode_parse_stream(file, text, len, NULL, err, errlen);
}

/* text of len bytes, else fp (its size checked by the caller). */
static struct ynode *
ynode_parse_input(const char *file, const char *text, size_t len, FILE *fp,
    const struct ynode_stream *st, char *err, size_t errlen)
{
	yaml_parser_t		 p;
	yaml_event_t		 ev;
	struct ynode		*root = NULL, *extra;
	struct ynode_ctx	 c;
	char			*fname;
	int			 done = 0;

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
	if (fp != NULL)
		yaml_parser_set_input_file(&p, fp);
	else
		yaml_parser_set_input_string(&p, (const unsigned char *)text,
		    len);
	c.file = fname;
	c.err = err;
	c.errlen = errlen;
	c.nodes = 0;
	c.stream = st;
	c.stream_next = 0;
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
			extra = ynode_build(&p, &ev, &c, 0);
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
ynode_parse_stream(const char *file, const char *text, size_t len,
    const struct ynode_stream *st, char *err, size_t errlen)
{
	return ynode_parse_input(file, text, len, NULL, st, err, errlen);
}

struct ynode *
ynode_parse_file(const char *path, char *err, size_t errlen)
{
	return ynode_parse_file_stream(path, NULL, err, errlen);
}

struct ynode *
ynode_parse_file_stream(const char *path, const struct ynode_stream *stream,
    char *err, size_t errlen)
{
	struct ynode	*root;
	struct stat	 st;
	FILE		*fp;
	int		 fd;

	/* O_NONBLOCK: a FIFO put in the file's place must not hang the
	 * open; it is refused below. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1) {
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
	/* Read as parsed, not into one buffer first: the whole text of a
	 * large file (12 MB at 100,000 keys) is never needed at once. */
	if ((fp = fdopen(fd, "r")) == NULL) {
		(void)snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	root = ynode_parse_input(path, NULL, 0, fp, stream, err, errlen);
	(void)fclose(fp);
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

void
ynode_free_subtree(struct ynode *n)
{
	ynode_free_node(n);
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
