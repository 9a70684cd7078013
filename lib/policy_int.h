/*
 * Internal to lib/policy: what policy.c (parsing, vocabulary),
 * policy_eval.c (evaluation) and policy_canon.c (canonical form and diff)
 * share.  Nothing outside those three files includes it.
 */
#ifndef KEYHEALTHD_POLICY_INT_H
#define KEYHEALTHD_POLICY_INT_H

#include <stddef.h>

#include "policy.h"

enum policy_opkind {
	OP_STR_EQ, OP_STR_EQ_I, OP_STR_LIKE, OP_NUM_EQ, OP_NUM_LT, OP_NUM_LE,
	OP_NUM_GT, OP_NUM_GE, OP_DATE_EQ, OP_DATE_LT, OP_DATE_LE, OP_DATE_GT,
	OP_DATE_GE, OP_BOOL, OP_ARN_LIKE, OP_NULL, OP_UNSUPPORTED
};

struct policy_opdef {
	const char		*name;
	enum policy_opkind	 kind;
	int			 negated;
};

enum policy_setmode { SET_NONE, SET_ANY, SET_ALL };

struct policy_opinfo {
	const struct policy_opdef	*def;
	enum policy_setmode		 set;
	int				 ifexists;
};

/* The operator op (set prefix and IfExists suffix included) into oi; 0,
 * or -1 when unknown or malformed. */
int	policy_op_lookup(const char *op, struct policy_opinfo *oi);

/* A growable list of strings, each malloc'd: push copies s (0 or -1),
 * clear frees them all and empties sv. */
struct policy_strv {
	char	**v;
	size_t	  n;
	size_t	  cap;
};

int	policy_strv_push(struct policy_strv *sv, const char *s);
void	policy_strv_clear(struct policy_strv *sv);

/* vasprintf that returns the string, NULL on failure. */
char	*policy_asprintf(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
/* Appends to a fixed buffer, truncating quietly: reasons are one line. */
void	policy_bufcat(char *buf, size_t len, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* Twelve digits. */
int	policy_is_account_id(const char *s);
/* "statement 'SID'" or "statement #N", for reasons and diff lines. */
void	policy_stmt_name(const struct policy_stmt *st, char *buf, size_t len);

#endif
