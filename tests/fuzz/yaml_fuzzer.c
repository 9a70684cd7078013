/*
 * libFuzzer target for lib/ynode alone (the YAML layer under the config
 * and every notifier block): parse, then walk the whole tree checking
 * what the header promises (positions, depth, map keys are scalars).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ynode.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
invariant(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "yaml_fuzzer: invariant broken: %s\n", what);
		abort();
	}
}

static void
walk(const struct ynode *n, int depth)
{
	char	where[256];
	size_t	i;

	invariant(depth <= YNODE_MAX_DEPTH + 1, "depth bounded");
	invariant(n->line >= 1 && n->column >= 1, "position");
	(void)ynode_where(n, where, sizeof(where));
	(void)ynode_type_name(n->type);
	switch (n->type) {
	case YNODE_SCALAR:
		invariant(n->value != NULL &&
		    strlen(n->value) <= n->valuelen, "scalar value");
		(void)ynode_is_null(n);
		break;
	case YNODE_MAP:
		for (i = 0; i < n->nitems; i++) {
			invariant(n->keys[i] != NULL &&
			    n->keys[i]->type == YNODE_SCALAR, "scalar key");
			invariant(ynode_get(n, n->keys[i]->value) != NULL,
			    "key found");
			walk(n->items[i], depth + 1);
		}
		break;
	case YNODE_SEQ:
		for (i = 0; i < n->nitems; i++)
			walk(n->items[i], depth + 1);
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ynode	*root;
	char		 err[512];

	err[0] = '\0';
	root = ynode_parse("fuzz.yaml", (const char *)data, size, err,
	    sizeof(err));
	if (root == NULL) {
		invariant(strncmp(err, "fuzz.yaml", 9) == 0,
		    "error names the file");
		return 0;
	}
	walk(root, 0);
	ynode_free(root);
	return 0;
}
