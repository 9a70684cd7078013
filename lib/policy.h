/*
 * AWS KMS key policies: a typed form parsed from the policy JSON, exact
 * three-valued evaluation of a request against it (allowed / not allowed /
 * cannot tell), the vendor question ("does the vendor's account still get
 * every action it needs?"), a canonical form and a statement-level diff.
 * Pure functions: no I/O, no clock, no logging.
 */
#ifndef KEYHEALTHD_POLICY_H
#define KEYHEALTHD_POLICY_H

#include <stddef.h>

struct vendor;

/* KMS accepts key policies up to 32 KiB; leave room for pretty-printing. */
#define POLICY_MAX_TEXT		(64 * 1024)
#define POLICY_MAX_STATEMENTS	1024
#define POLICY_MAX_VALUES	4096	/* per list (actions, principals, ...) */

enum policy_effect {
	POLICY_ALLOW,
	POLICY_DENY
};

enum policy_principal_type {
	POLICY_PRINCIPAL_ANY,		/* "*" or {"AWS": "*"} */
	POLICY_PRINCIPAL_AWS,		/* account id or IAM ARN */
	POLICY_PRINCIPAL_SERVICE,
	POLICY_PRINCIPAL_FEDERATED,
	POLICY_PRINCIPAL_CANONICAL_USER
};

struct policy_principal {
	enum policy_principal_type	 type;
	char				*value;	/* as written; "*" for ANY */
};

/* One condition key under one operator: "Bool": {"kms:X": ["true"]}.
 * JSON booleans and numbers are kept as their text ("true", "42"). */
struct policy_cond {
	char	 *op;		/* "ForAnyValue:StringLikeIfExists" as written */
	char	 *key;		/* as written; compared case-insensitively */
	char	**values;
	size_t	  nvalues;
	int	  scalar;	/* value was written as a scalar, not an array */
};

struct policy_stmt {
	size_t			 index;		/* 1-based position */
	char			*sid;		/* NULL when absent */
	enum policy_effect	 effect;
	int			 has_principal;	/* Principal or NotPrincipal given */
	int			 not_principal;
	struct policy_principal	*principals;
	size_t			 nprincipals;
	int			 not_action;
	char			**actions;
	size_t			 nactions;
	int			 has_resource;	/* absent means this key */
	int			 not_resource;
	char			**resources;
	size_t			 nresources;
	struct policy_cond	*conds;
	size_t			 nconds;
};

struct policy {
	char			*version;	/* NULL when absent */
	char			*id;		/* NULL when absent */
	struct policy_stmt	*stmts;
	size_t			 nstmts;
};

/*
 * Parses a key policy document of len bytes (no NUL needed).  Returns a new
 * policy that the caller frees with policy_free(), or NULL with a precise
 * message in err, e.g. "statement 2 (Sid 'x'): Effect must be Allow or
 * Deny".  Input larger than POLICY_MAX_TEXT is refused.
 */
struct policy	*policy_parse(const char *text, size_t len, char *err,
		    size_t errlen);

/* Frees p and everything it owns; NULL is fine. */
void		 policy_free(struct policy *p);

/*
 * A request to evaluate.  Everything is borrowed from the caller.
 * Context: each entry gives a key and one value (repeat the key for a
 * multi-valued key); value NULL says the key is known to be absent.  Keys
 * not listed are absent when ctx_closed is set, otherwise unknown, and a
 * statement whose outcome depends on an unknown key is "cannot tell".
 */
struct policy_ctx {
	const char	*key;
	const char	*value;
};

struct policy_request {
	const char		*principal;	/* "111122223333", an IAM ARN,
						   or a service principal */
	const char		*action;	/* "kms:Decrypt" */
	const char		*resource;	/* the key ARN; NULL: this key */
	const struct policy_ctx	*ctx;
	size_t			 nctx;
	int			 ctx_closed;
};

enum policy_decision_result {
	POLICY_ALLOWED,
	POLICY_IMPLICIT_DENY,		/* no statement allows it */
	POLICY_EXPLICIT_DENY,		/* a Deny statement applies */
	POLICY_CANNOT_TELL
};

struct policy_decision {
	enum policy_decision_result	 result;
	const struct policy_stmt	*deciding;	/* the Deny, the Allow, or
							   the undecidable one */
	/* An Allow that applies or may apply; after an implicit deny, one
	 * that would apply but for its conditions; or NULL. */
	const struct policy_stmt	*allowing;
	/* One line naming the statements, without an "action for
	 * principal" prefix. */
	char				 reason[768];
};

/*
 * Evaluates req against p with IAM's rules: an applicable Deny wins, then
 * an applicable Allow, else implicit deny; a Deny or Allow that may or may
 * not apply makes the result POLICY_CANNOT_TELL unless a definite outcome
 * settles it.  Fills out (borrowing statement pointers from p); returns
 * out->result, or -1 on bad arguments.
 */
int		 policy_eval(const struct policy *p,
		    const struct policy_request *req, struct policy_decision *out);

/* Outcome of the vendor question, overall and per action. */
enum policy_status {
	POLICY_STATUS_OK = 0,
	POLICY_STATUS_MISSING = 1,
	POLICY_STATUS_UNKNOWN = 2	/* cannot tell */
};

struct policy_action_verdict {
	char			*action;	/* concrete, "kms:ReEncryptFrom" */
	char			*required;	/* as the vendor profile says,
						   "kms:ReEncrypt*" */
	char			*group;		/* the vendor group's label */
	enum policy_status	 status;
	char			*granted_by;	/* Allow that grants or would
						   grant it (name), or NULL */
	char			*denied_by;	/* Deny that removes it, or NULL */
	char			*reason;	/* one line; NULL when OK */
};

struct policy_verdict {
	enum policy_status		 status;
	char				*principal; /* arn:aws:iam::N:root */
	char				*reason;    /* one line; NULL when OK */
	struct policy_action_verdict	*actions;   /* every action checked */
	size_t				 nactions;
};

/*
 * The vendor question: does arn:<partition>:iam::<account>:root get every
 * action of every group of v on the key key_arn (NULL: "this key", and
 * partition aws)?  Wildcard actions of the profile ("kms:ReEncrypt*") are
 * expanded over the KMS API actions they cover and each is checked.
 *
 * The vendor's requests are assumed to carry exactly this context:
 * aws:PrincipalAccount = kms:CallerAccount = aws:userid = account,
 * aws:PrincipalArn = the root ARN, aws:PrincipalType = Account,
 * aws:PrincipalIsAWSService = false, aws:SecureTransport = true,
 * aws:RequestedRegion = the key's region, plus the group's conditions
 * (key = value); kms:GrantIsForAWSResource is absent on non-grant actions.
 * Every other key (aws:SourceIp, aws:PrincipalOrgID, kms:ViaService,
 * kms:EncryptionContext:..., ...) is unknown.
 *
 * Fills out (free with policy_verdict_free(), also after a failure) and
 * returns out->status, or -1 on bad arguments or out of memory.
 */
int		 policy_vendor_access(const struct policy *p,
		    const struct vendor *v, const char *account,
		    const char *key_arn, struct policy_verdict *out);

/* Frees what out owns (not out itself) and zeroes it; NULL is fine. */
void		 policy_verdict_free(struct policy_verdict *out);

/*
 * Canonical JSON text of p: sorted keys; Action, Principal and Resource
 * lists as sorted, de-duplicated arrays (actions lower-cased, bare account
 * ids as root ARNs, {"AWS": "*"} as "*"); condition keys lower-cased with
 * their values as sorted sets; statements ordered by Sid, then Sid-less
 * ones by content.  Returns malloc'd text the caller frees, or NULL when
 * out of memory.
 */
char		*policy_canonical(const struct policy *p);

/* 1 when a and b have the same canonical form, 0 when not, -1 on error. */
int		 policy_equal(const struct policy *a, const struct policy *b);

/*
 * Statement-level differences from old to new, one readable line each:
 * "statement 'Allow use of the key': action kms:decrypt removed",
 * "statement 'x' added", "statement 'y': condition Bool
 * kms:GrantIsForAWSResource changed from true to false".  Statements are
 * matched by Sid, Sid-less ones by content.  On success *lines is a
 * malloc'd array of *nlines malloc'd strings (NULL and 0 when equal) that
 * the caller frees with policy_diff_free(); returns 0, or -1 when out of
 * memory.
 */
int		 policy_diff(const struct policy *old_p,
		    const struct policy *new_p, char ***lines, size_t *nlines);

/* Frees the result of policy_diff(); NULL is fine. */
void		 policy_diff_free(char **lines, size_t nlines);

/* Short names for messages: "ok", "missing", "unknown". Static storage. */
const char	*policy_status_name(enum policy_status s);

/*
 * 1 when pattern (with * and ?) matches s, 0 when not; icase for
 * case-insensitive comparison (actions).  Linear-time backtracking.
 */
int		 policy_match(const char *pattern, const char *s, int icase);

/*
 * The IAM vocabulary, owned here and read by lib/config: the KMS API
 * actions ("kms:Decrypt", ..., NULL-terminated) that wildcards expand to,
 * and the condition operators the evaluator knows.
 */
extern const char *const policy_kms_actions[];
/* Whether op is a known operator, with its ForAnyValue:/ForAllValues:
 * prefix and IfExists suffix (case-insensitive, as IAM). */
int		 policy_cond_op_known(const char *op);
/* The i-th operator's base name ("StringEquals"), NULL past the last. */
const char	*policy_cond_op_name(size_t i);

#endif
