/*
 * A strict JSON reader for hot answers (jscan.h).  Its rules are
 * jansson's (2.14, src/load.c and src/utf.c): the same whitespace, number
 * grammar, escapes, surrogate pairs and UTF-8 checks; wherever jansson
 * would fail, or where this reader would need more than it keeps (deep
 * nesting, escaped member names, numbers near the limits), it returns -1
 * and the caller asks jansson.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jscan.h"

void
jscan_init(struct jscan *s, const char *text, size_t len)
{
	s->p = text;
	s->end = text + len;
}

static void
jscan_ws(struct jscan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' ||
	    *s->p == '\r' || *s->p == '\t'))
		s->p++;
}

int
jscan_peek(struct jscan *s)
{
	jscan_ws(s);
	return s->p < s->end ? (unsigned char)*s->p : -1;
}

int
jscan_expect(struct jscan *s, char c)
{
	if (jscan_peek(s) != (unsigned char)c)
		return -1;
	s->p++;
	return 0;
}

int
jscan_end(struct jscan *s)
{
	jscan_ws(s);
	return s->p == s->end ? 0 : -1;
}

static int
jscan_hex4(const char *p, const char *end, unsigned int *out)
{
	unsigned int	v = 0;
	int		i;

	if (end - p < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		char	c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned int)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned int)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned int)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* One \u escape at p (after the backslash and 'u'), with its low
 * surrogate when it is a high one: the code point and the bytes read. */
static int
jscan_uescape(const char *p, const char *end, unsigned int *cp,
    size_t *used)
{
	unsigned int	hi, lo;

	if (jscan_hex4(p, end, &hi) == -1)
		return -1;
	if (hi >= 0xDC00 && hi <= 0xDFFF)
		return -1;		/* a lone low surrogate */
	if (hi >= 0xD800 && hi <= 0xDBFF) {
		if (end - p < 10 || p[4] != '\\' || p[5] != 'u' ||
		    jscan_hex4(p + 6, end, &lo) == -1 ||
		    lo < 0xDC00 || lo > 0xDFFF)
			return -1;
		*cp = ((hi - 0xD800) << 10) + (lo - 0xDC00) + 0x10000;
		*used = 10;
		return 0;
	}
	if (hi == 0)
		return -1;		/* jansson wants JSON_ALLOW_NUL */
	*cp = hi;
	*used = 4;
	return 0;
}

/* A UTF-8 sequence at p: its length, or 0 when it is not valid
 * (overlong, a surrogate, above U+10FFFF, cut). */
static size_t
jscan_utf8(const unsigned char *p, const unsigned char *end)
{
	unsigned int	v;
	size_t		n, i;

	if (*p < 0xC2 || *p > 0xF4)
		return 0;
	n = *p < 0xE0 ? 2 : *p < 0xF0 ? 3 : 4;
	if ((size_t)(end - p) < n)
		return 0;
	v = *p & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (p[i] & 0x3F);
	}
	if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000) ||
	    v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	return n;
}

int
jscan_string(struct jscan *s, struct jscan_str *out)
{
	const unsigned char	*p, *end = (const unsigned char *)s->end;
	unsigned int		 cp;
	size_t			 n;

	if (jscan_expect(s, '"') == -1)
		return -1;
	out->raw = s->p;
	out->escaped = 0;
	p = (const unsigned char *)s->p;
	while (p < end) {
		if (*p == '"') {
			out->len = (size_t)((const char *)p - out->raw);
			s->p = (const char *)p + 1;
			return 0;
		}
		if (*p >= 0x20 && *p < 0x80 && *p != '\\') {
			p++;
			continue;
		}
		if (*p < 0x20)
			return -1;
		if (*p >= 0x80) {
			if ((n = jscan_utf8(p, end)) == 0)
				return -1;
			p += n;
			continue;
		}
		/* A backslash. */
		out->escaped = 1;
		if (end - p < 2)
			return -1;
		switch (p[1]) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n':
		case 'r': case 't':
			p += 2;
			break;
		case 'u':
			if (jscan_uescape((const char *)p + 2, (const char *)end,
			    &cp, &n) == -1)
				return -1;
			p += 2 + n;
			break;
		default:
			return -1;
		}
	}
	return -1;
}

int
jscan_number(struct jscan *s, double *value, int *integer)
{
	const char	*p, *start, *digits;
	char		 buf[64], *endp;
	int		 real = 0;
	double		 d;

	(void)jscan_peek(s);
	p = start = s->p;

	if (p < s->end && *p == '-')
		p++;
	digits = p;
	if (p < s->end && *p == '0')
		p++;
	else if (p < s->end && *p >= '1' && *p <= '9')
		while (p < s->end && *p >= '0' && *p <= '9')
			p++;
	else
		return -1;
	if (p < s->end && *p >= '0' && *p <= '9')
		return -1;		/* a leading zero */
	if (p < s->end && *p == '.') {
		real = 1;
		p++;
		if (p >= s->end || *p < '0' || *p > '9')
			return -1;
		while (p < s->end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < s->end && (*p == 'e' || *p == 'E')) {
		real = 1;
		p++;
		if (p < s->end && (*p == '+' || *p == '-'))
			p++;
		if (p >= s->end || *p < '0' || *p > '9')
			return -1;
		while (p < s->end && *p >= '0' && *p <= '9')
			p++;
	}
	if ((!real && p - digits > 18) || (size_t)(p - start) >= sizeof(buf))
		return -1;
	memcpy(buf, start, (size_t)(p - start));
	buf[p - start] = '\0';
	errno = 0;
	/* jansson: json_integer_value() as a double, or strtod(). */
	d = real ? strtod(buf, &endp) : (double)strtoll(buf, &endp, 10);
	if (*endp != '\0' || (errno == ERANGE && d != 0) || !isfinite(d))
		return -1;
	*value = d;
	*integer = !real;
	s->p = p;
	return 0;
}

static int
jscan_literal(struct jscan *s, const char *lit)
{
	size_t	n = strlen(lit);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
		return -1;
	s->p += n;
	return 0;
}

static int	jscan_value(struct jscan *, int);

static int
jscan_object(struct jscan *s, int depth)
{
	struct jscan_names	names;
	struct jscan_str	name;
	int			first = 1, r;

	names.n = 0;
	while ((r = jscan_member(s, &first, &names, &name)) == 1)
		if (jscan_value(s, depth + 1) == -1)
			return -1;
	return r;
}

static int
jscan_array(struct jscan *s, int depth)
{
	if (jscan_peek(s) == ']') {
		s->p++;
		return 0;
	}
	for (;;) {
		if (jscan_value(s, depth + 1) == -1)
			return -1;
		switch (jscan_peek(s)) {
		case ',':
			s->p++;
			break;
		case ']':
			s->p++;
			return 0;
		default:
			return -1;
		}
	}
}

static int
jscan_value(struct jscan *s, int depth)
{
	struct jscan_str	str;
	double			d;
	int			integer;

	if (depth > JSCAN_MAX_DEPTH)
		return -1;
	switch (jscan_peek(s)) {
	case '"':
		return jscan_string(s, &str);
	case '{':
		s->p++;
		return jscan_object(s, depth);
	case '[':
		s->p++;
		return jscan_array(s, depth);
	case 't':
		return jscan_literal(s, "true");
	case 'f':
		return jscan_literal(s, "false");
	case 'n':
		return jscan_literal(s, "null");
	case '-': case '0': case '1': case '2': case '3': case '4': case '5':
	case '6': case '7': case '8': case '9':
		return jscan_number(s, &d, &integer);
	default:
		return -1;
	}
}

int
jscan_skip(struct jscan *s)
{
	return jscan_value(s, 1);
}

int
jscan_member(struct jscan *s, int *first, struct jscan_names *names,
    struct jscan_str *name)
{
	size_t	i;
	int	c = jscan_peek(s);

	if (c == '}') {
		s->p++;
		return 0;
	}
	if (!*first) {
		if (c != ',')
			return -1;
		s->p++;
	}
	*first = 0;
	if (jscan_string(s, name) == -1 || name->escaped)
		return -1;
	for (i = 0; i < names->n; i++)
		if (names->v[i].len == name->len &&
		    memcmp(names->v[i].raw, name->raw, name->len) == 0)
			return -1;
	if (names->n == JSCAN_MAX_MEMBERS)
		return -1;
	names->v[names->n++] = *name;
	return jscan_expect(s, ':') == 0 ? 1 : -1;
}

int
jscan_is(const struct jscan_str *name, const char *lit)
{
	size_t	n = strlen(lit);

	return name->len == n && memcmp(name->raw, lit, n) == 0;
}

/* Code point cp as UTF-8 at out; the bytes written. */
static size_t
jscan_put_utf8(unsigned int cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

size_t
jscan_decode(const struct jscan_str *str, char *out)
{
	const char	*p = str->raw, *end = str->raw + str->len, *bs;
	unsigned int	 cp = 0;
	size_t		 o = 0, used = 4;

	if (!str->escaped) {
		memcpy(out, str->raw, str->len);
		out[str->len] = '\0';
		return str->len;
	}
	while (p < end) {
		if ((bs = memchr(p, '\\', (size_t)(end - p))) == NULL)
			bs = end;
		memcpy(out + o, p, (size_t)(bs - p));
		o += (size_t)(bs - p);
		if ((p = bs) == end)
			break;
		switch (p[1]) {
		case 'b':
			out[o++] = '\b';
			break;
		case 'f':
			out[o++] = '\f';
			break;
		case 'n':
			out[o++] = '\n';
			break;
		case 'r':
			out[o++] = '\r';
			break;
		case 't':
			out[o++] = '\t';
			break;
		case 'u':
			/* Validated by jscan_string(). */
			(void)jscan_uescape(p + 2, end, &cp, &used);
			o += jscan_put_utf8(cp, out + o);
			p += 2 + used;
			continue;
		default:	/* '"', '\\', '/' */
			out[o++] = p[1];
			break;
		}
		p += 2;
	}
	out[o] = '\0';
	return o;
}
