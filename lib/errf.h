/*
 * The error string of lib/'s 0/-1 convention: a function that fails fills
 * the caller's (err, errlen) through errf(), the one formatter of them.
 */
#ifndef KEYHEALTHD_ERRF_H
#define KEYHEALTHD_ERRF_H

#include <stddef.h>

/* Formats into err, truncated to errlen; nothing when err is NULL or
 * errlen is 0 (the caller does not want the reason). */
void	errf(char *err, size_t errlen, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

#endif
