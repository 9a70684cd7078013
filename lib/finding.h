/*
 * Findings: what a check says about a key.  Check ids are part of the
 * interface (alerts, JSON, metrics, docs): see ARCHITECTURE's catalogue.
 */
#ifndef KEYHEALTHD_FINDING_H
#define KEYHEALTHD_FINDING_H

#include <stddef.h>

#include <jansson.h>

/* Ordered so that the worst is the largest: critical wins, then unknown,
 * then warning (the Nagios plugin convention). */
enum severity {
	SEV_OK = 0,
	SEV_INFO,
	SEV_WARNING,
	SEV_UNKNOWN,
	SEV_CRITICAL
};

struct finding {
	char		*check;		/* "key-disabled" */
	enum severity	 severity;
	char		*summary;	/* one line, for people */
	json_t		*details;	/* a JSON object, never NULL */
};

struct findings {
	struct finding	*v;
	size_t		 n;
	size_t		 cap;
};

/* "ok", "info", "warning", "unknown", "critical". */
const char	*severity_name(enum severity);
/* Parses a name as above; 0 or -1. */
int		 severity_parse(const char *name, enum severity *out);
/* Nagios exit status: 0 ok/info, 1 warning, 2 critical, 3 unknown. */
int		 severity_exit_code(enum severity);

/*
 * Appends a finding.  details (may be NULL: an empty object is used) is
 * stolen, also on failure.  Returns 0 or -1 (out of memory).
 */
int		 findings_add(struct findings *fs, const char *check,
		    enum severity sev, json_t *details, const char *fmt, ...)
		    __attribute__((format(printf, 5, 6)));
/* The finding with that check id, or NULL; points into fs. */
const struct finding *findings_get(const struct findings *fs,
		    const char *check);
enum severity	 findings_worst(const struct findings *fs);
/* Frees every finding; fs can be reused. */
void		 findings_clear(struct findings *fs);
/* A new JSON array of {"check","severity","summary","details"}. */
json_t		*findings_json(const struct findings *fs);

#endif
