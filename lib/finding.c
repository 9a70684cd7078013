/*
 * Findings and severities.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "finding.h"

static const char * const severity_names[] = {
	[SEV_OK] = "ok",
	[SEV_INFO] = "info",
	[SEV_WARNING] = "warning",
	[SEV_UNKNOWN] = "unknown",
	[SEV_CRITICAL] = "critical",
};

const char *
severity_name(enum severity s)
{
	if ((size_t)s >= sizeof(severity_names) / sizeof(severity_names[0]))
		return "unknown";
	return severity_names[s];
}

int
severity_parse(const char *name, enum severity *out)
{
	size_t	i;

	for (i = 0; i < sizeof(severity_names) / sizeof(severity_names[0]);
	    i++)
		if (strcmp(severity_names[i], name) == 0) {
			*out = (enum severity)i;
			return 0;
		}
	return -1;
}

int
severity_exit_code(enum severity s)
{
	switch (s) {
	case SEV_OK:
	case SEV_INFO:
		return 0;
	case SEV_WARNING:
		return 1;
	case SEV_CRITICAL:
		return 2;
	case SEV_UNKNOWN:
	default:
		return 3;
	}
}

int
findings_add(struct findings *fs, const char *check, enum severity sev,
    json_t *details, const char *fmt, ...)
{
	struct finding	*f, *v;
	va_list		 ap;
	int		 len;

	if (details == NULL && (details = json_object()) == NULL)
		return -1;
	if (fs->n == fs->cap) {
		size_t ncap = fs->cap ? fs->cap * 2 : 4;

		if ((v = reallocarray(fs->v, ncap, sizeof(*v))) == NULL) {
			json_decref(details);
			return -1;
		}
		fs->v = v;
		fs->cap = ncap;
	}
	f = &fs->v[fs->n];
	memset(f, 0, sizeof(*f));
	va_start(ap, fmt);
	len = vasprintf(&f->summary, fmt, ap);
	va_end(ap);
	if (len == -1 || (f->check = strdup(check)) == NULL) {
		if (len != -1)
			free(f->summary);
		json_decref(details);
		return -1;
	}
	f->severity = sev;
	f->details = details;
	fs->n++;
	return 0;
}

const struct finding *
findings_get(const struct findings *fs, const char *check)
{
	size_t	i;

	for (i = 0; i < fs->n; i++)
		if (strcmp(fs->v[i].check, check) == 0)
			return &fs->v[i];
	return NULL;
}

enum severity
findings_worst(const struct findings *fs)
{
	enum severity	w = SEV_OK;
	size_t		i;

	for (i = 0; i < fs->n; i++)
		if (fs->v[i].severity > w)
			w = fs->v[i].severity;
	return w;
}

void
findings_clear(struct findings *fs)
{
	size_t	i;

	for (i = 0; i < fs->n; i++) {
		free(fs->v[i].check);
		free(fs->v[i].summary);
		json_decref(fs->v[i].details);
	}
	free(fs->v);
	memset(fs, 0, sizeof(*fs));
}

json_t *
findings_json(const struct findings *fs)
{
	json_t	*a, *o;
	size_t	 i;

	if ((a = json_array()) == NULL)
		return NULL;
	for (i = 0; i < fs->n; i++) {
		o = json_pack("{s:s, s:s, s:s, s:O}", "check", fs->v[i].check,
		    "severity", severity_name(fs->v[i].severity), "summary",
		    fs->v[i].summary, "details", fs->v[i].details);
		if (o == NULL || json_array_append_new(a, o) == -1) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}
