/*
 * Alerts: one per (key, check).  The state machine turns each poll's
 * findings into events (firing, re-notify, resolved); the outbox delivers
 * them.  See ARCHITECTURE's Alerts section for the payload.
 */
#ifndef KEYHEALTHD_ALERT_H
#define KEYHEALTHD_ALERT_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "finding.h"

enum alert_status {
	ALERT_FIRING,
	ALERT_RESOLVED
};

/* One notification to deliver.  All strings owned by the event. */
struct alert_event {
	char			 id[40];	/* unique per event: the
						 * Idempotency-Key */
	char			 fingerprint[65];	/* hex SHA-256 of ARN
							 * and check id */
	enum alert_status	 status;
	char			*check;
	enum severity		 severity;
	char			*key_arn;
	char			*key_name;
	char			*region;
	char			*account;
	char			*summary;
	json_t			*details;	/* object */
	time_t			 started_at;
	time_t			 ended_at;	/* 0 while firing */
};

#endif
