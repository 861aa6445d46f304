/*
 * terms.c - open-addressing hash table (FNV-1a, linear probing, load <= 1/2).
 */
#include "terms.h"

#include <stdlib.h>
#include <string.h>

#define TERMS_INITIAL 1024

static uint64_t terms_hash(const char *w, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)w[i];
		h *= 1099511628211ull;
	}
	return h;
}

ag_status terms_init(terms *t, size_t max_terms)
{
	memset(t, 0, sizeof *t);
	t->max = max_terms < TERMS_MAX ? max_terms : TERMS_MAX;
	t->cap = TERMS_INITIAL;
	t->slots = calloc(t->cap, sizeof *t->slots);
	t->acap = 16 * 1024;
	t->arena = malloc(t->acap);
	if (!t->slots || !t->arena) {
		terms_free(t);
		return AG_E_NOMEM;
	}
	return AG_OK;
}

void terms_free(terms *t)
{
	free(t->slots);
	free(t->arena);
	memset(t, 0, sizeof *t);
}

const char *terms_key(const terms *t, const terms_entry *e)
{
	return t->arena + e->off;
}

static terms_entry *terms_slot(terms_entry *slots, size_t cap, const char *arena, const char *w, size_t n)
{
	size_t i = (size_t)terms_hash(w, n) & (cap - 1);
	while (slots[i].len != 0 && (slots[i].len != n || memcmp(arena + slots[i].off, w, n) != 0))
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

static bool terms_grow(terms *t)
{
	size_t cap = t->cap * 2;
	terms_entry *slots = calloc(cap, sizeof *slots);
	if (!slots)
		return false;
	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i].len)
			*terms_slot(slots, cap, t->arena, t->arena + t->slots[i].off, t->slots[i].len) = t->slots[i];
	free(t->slots);
	t->slots = slots;
	t->cap = cap;
	return true;
}

const terms_entry *terms_find(const terms *t, const char *w, size_t n)
{
	if (n == 0 || n > UINT32_MAX)
		return NULL;
	const terms_entry *e = terms_slot(t->slots, t->cap, t->arena, w, n);
	return e->len ? e : NULL;
}

terms_entry *terms_add(terms *t, const char *w, size_t n)
{
	if (n == 0 || n > UINT32_MAX)
		return NULL;
	terms_entry *e = terms_slot(t->slots, t->cap, t->arena, w, n);
	if (e->len)
		return e;
	if (t->n >= t->max)
		return NULL;
	if ((t->n + 1) * 2 > t->cap) {
		if (!terms_grow(t))
			return NULL;
		e = terms_slot(t->slots, t->cap, t->arena, w, n);
	}
	if (t->alen + n > t->acap) {
		size_t acap = t->acap * 2;
		while (acap < t->alen + n)
			acap *= 2;
		if (acap > UINT32_MAX)
			return NULL;
		char *a = realloc(t->arena, acap);
		if (!a)
			return NULL;
		t->arena = a;
		t->acap = acap;
	}
	memcpy(t->arena + t->alen, w, n);
	*e = (terms_entry){.off = (uint32_t)t->alen, .len = (uint32_t)n};
	t->alen += n;
	t->n++;
	return e;
}
