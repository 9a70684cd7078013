/*
 * "Did you mean ...?": the one typo distance every configuration message
 * uses (the file's keys and values, the notifiers' options and types).
 */
#ifndef KEYHEALTHD_SUGGEST_H
#define KEYHEALTHD_SUGGEST_H

#include <stddef.h>

/*
 * The candidate closest to word (optimal string alignment distance:
 * Levenshtein plus adjacent transpositions, case-insensitive), if it is
 * close enough to be a typo (at most a third of word's length, 1 to 3);
 * else NULL.  Words longer than 64 bytes are never close.
 */
const char	*suggest_closest(const char *word, const char * const *cands,
		    size_t ncands);

#endif
