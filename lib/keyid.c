/*
 * A watched key's identity (keyid.h).
 */
#include <string.h>

#include "keyid.h"

const char *
keyid_name(const struct keyid *id)
{
	const char	*p;

	if (id->name != NULL && id->name[0] != '\0')
		return id->name;
	if (id->arn == NULL)
		return "(unnamed key)";
	if ((p = strrchr(id->arn, '/')) != NULL && p[1] != '\0')
		return p + 1;
	return id->arn;
}
