/*
 * A YAML document as a tree of nodes that remember where they came from,
 * so that every configuration error can name FILE:LINE:COLUMN.  The config
 * module walks it for its own keys and hands notifier blocks, still as
 * nodes, to the notifier modules.
 */
#ifndef KEYHEALTHD_YNODE_H
#define KEYHEALTHD_YNODE_H

#include <stddef.h>

enum ynode_type {
	YNODE_SCALAR,
	YNODE_SEQ,
	YNODE_MAP
};

struct ynode {
	enum ynode_type	 type;
	const char	*file;		/* shared by the whole tree */
	int		 line;		/* 1-based */
	int		 column;	/* 1-based */
	/* YNODE_SCALAR */
	char		*value;
	size_t		 valuelen;
	int		 quoted;	/* '...' or "..." in the source */
	/* YNODE_SEQ: items; YNODE_MAP: keys[i] -> items[i] */
	struct ynode	**keys;		/* scalars; NULL for a sequence */
	struct ynode	**items;
	size_t		 nitems;
	size_t		 nalloc;	/* slots in items (and keys) */
};

/*
 * Size, node and nesting limits; anything bigger is an error.  They leave
 * room for the configuration's largest file, 100,000 keys
 * (config.c's CFG_MAX_KEYS) of about 330 bytes and 20 nodes each, and
 * bound what a hostile file can make the parser allocate.
 */
#define YNODE_MAX_BYTES		(32 * 1024 * 1024)
#define YNODE_MAX_NODES		2000000
#define YNODE_MAX_DEPTH		32

/*
 * Parses the YAML text (one document; anchors and aliases are refused, as
 * are tags) into a tree.  file names the source in positions and is copied.
 * On error returns NULL and writes "FILE:LINE:COLUMN: message" into err.
 * The caller frees the root with ynode_free().
 */
struct ynode	*ynode_parse(const char *file, const char *text, size_t len,
		    char *err, size_t errlen);
/* Reads and parses path (at most YNODE_MAX_BYTES, YNODE_MAX_NODES). */
struct ynode	*ynode_parse_file(const char *path, char *err, size_t errlen);

/*
 * Streaming one long sequence: when the root is a mapping, the items of
 * the sequence under its key `key` are handed to item() one at a time as
 * each is parsed, and that sequence stays empty in the tree.  A file's
 * 100,000 keys: entries as a tree were most of its parse's memory; this
 * way one entry's nodes live at a time.  item() owns the node it is
 * given (ynode_free_subtree(); its file name lives as long as the root).
 * Limits, positions and errors are those of ynode_parse().
 */
struct ynode_stream {
	const char	*key;
	void		(*item)(void *arg, struct ynode *item, size_t idx);
	void		*arg;
};
struct ynode	*ynode_parse_stream(const char *file, const char *text,
		    size_t len, const struct ynode_stream *st, char *err,
		    size_t errlen);
struct ynode	*ynode_parse_file_stream(const char *path,
		    const struct ynode_stream *st, char *err, size_t errlen);
void		 ynode_free(struct ynode *root);
/* Frees a node that is not a root (an item given by a stream). */
void		 ynode_free_subtree(struct ynode *n);

/* The value of key in map n, or NULL; points into n. */
struct ynode	*ynode_get(const struct ynode *n, const char *key);
/* "FILE:LINE:COLUMN" of n into buf. */
const char	*ynode_where(const struct ynode *n, char *buf, size_t len);
/* "mapping", "sequence" or "scalar". */
const char	*ynode_type_name(enum ynode_type);
/* True for a scalar that YAML would read as null (~, null, empty, unquoted). */
int		 ynode_is_null(const struct ynode *n);

#endif
