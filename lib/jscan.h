/*
 * lib/jscan: a strict, allocation-free JSON reader for the answers the
 * daemon parses on every poll (GetKeyPolicy's, whose policy is a JSON
 * text inside a JSON string).  Building a jansson tree of such an answer
 * to read one string cost a fifth of a key check's CPU.
 *
 * It reads a subset of what jansson (json_loadb with
 * JSON_REJECT_DUPLICATES) accepts, and gives the same values: every
 * function returns 0 when it read a well-formed piece, and -1 for
 * anything else, bad or merely unusual (escaped member names, deep
 * nesting, huge numbers...).  -1 means "not sure", never "malformed":
 * the caller then parses the text with jansson, whose result (and error
 * message) stays the reference.  Nothing is allocated; strings are
 * handed back raw and decoded on request.
 */
#ifndef KEYHEALTHD_JSCAN_H
#define KEYHEALTHD_JSCAN_H

#include <stddef.h>

/* Nesting deeper than this is left to jansson. */
#define JSCAN_MAX_DEPTH		32
/* Objects with more members than this are left to jansson (duplicate
 * member names are looked for among them). */
#define JSCAN_MAX_MEMBERS	64

struct jscan {
	const char	*p;	/* next byte */
	const char	*end;
};

/* A string as it stands between its quotes: valid escapes, valid UTF-8,
 * no control character and no \u0000 (jansson refuses both). */
struct jscan_str {
	const char	*raw;
	size_t		 len;
	int		 escaped;	/* raw holds a backslash */
};

/* The member names of one object, to refuse duplicates as jansson does. */
struct jscan_names {
	struct jscan_str	v[JSCAN_MAX_MEMBERS];
	size_t			n;
};

void	jscan_init(struct jscan *s, const char *text, size_t len);
/* The next byte after whitespace (not consumed), or -1 at the end. */
int	jscan_peek(struct jscan *s);
/* Consumes byte c after whitespace; 0, or -1 if something else is next. */
int	jscan_expect(struct jscan *s, char c);
/* 0 when only whitespace is left. */
int	jscan_end(struct jscan *s);
/* Reads a string token (whitespace first). */
int	jscan_string(struct jscan *s, struct jscan_str *out);
/* Reads a number (whitespace first): its value as jansson gives it
 * (json_number_value()), and whether it is an integer token (no
 * fraction, no exponent: json_is_integer()).  Integers beyond 18 digits
 * are left to jansson. */
int	jscan_number(struct jscan *s, double *value, int *integer);
/* Skips one value of any kind. */
int	jscan_skip(struct jscan *s);
/*
 * Walks an object whose '{' was consumed: reads the next member's name
 * and its ':' into name and returns 1, returns 0 after the closing '}',
 * -1 otherwise.  *first is 1 before the first member (it is cleared
 * here); names collects the names read and refuses a duplicate or an
 * escaped one.
 */
int	jscan_member(struct jscan *s, int *first, struct jscan_names *names,
	    struct jscan_str *name);
/* Whether a name read raw (never escaped, see jscan_member) is lit. */
int	jscan_is(const struct jscan_str *name, const char *lit);
/*
 * Decodes str into out, which holds at least str->len + 1 bytes (a
 * decoded string is never longer than its raw form), NUL-terminated;
 * returns the decoded length.  str must come from jscan_string().
 */
size_t	jscan_decode(const struct jscan_str *str, char *out);

#endif
