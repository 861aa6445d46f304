/*
 * terms.h - a string-keyed hash table of words with a count, the position of
 * their first occurrence and a small bit mask (stop-word languages), for the
 * builtin provider. Open addressing; keys live in one arena. Holds at most
 * `max_terms` distinct words: past that, new words are not added.
 */
#ifndef AI_TERMS_H
#define AI_TERMS_H

#include "aegis/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TERMS_MAX (1u << 20) /* highest max_terms */

typedef struct terms_entry {
	uint32_t off; /* key in the arena */
	uint32_t len; /* key bytes; 0 = empty slot */
	uint32_t count;
	uint32_t first; /* order of first occurrence */
	uint32_t mask;
} terms_entry;

typedef struct terms {
	terms_entry *slots;
	size_t cap, n, max;
	char *arena;
	size_t alen, acap;
} terms;

ag_status terms_init(terms *t, size_t max_terms);
void terms_free(terms *t); /* zeroed ok */
/* The entry of `w[0..n)`, or NULL when absent. */
const terms_entry *terms_find(const terms *t, const char *w, size_t n);
/* The entry of `w[0..n)`, added (zeroed) when absent; NULL when the table is full or out of memory. Entry
 * pointers are valid until the next terms_add. */
terms_entry *terms_add(terms *t, const char *w, size_t n);
/* The key of an entry (not NUL-terminated; e->len bytes). */
const char *terms_key(const terms *t, const terms_entry *e);

#endif
