/*
 * Error strings for lib/'s 0/-1 convention (errf.h).
 */
#include <stdarg.h>
#include <stdio.h>

#include "errf.h"

void
errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
