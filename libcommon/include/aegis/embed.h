/*
 * embed.h - the lexical "hashed" embedding that the ai-worker's builtin
 * provider writes to chunks.embedding and the gateway computes for a
 * semantic search query: one piece of code, so both sides always agree.
 *
 * It is lexical, not semantic: feature hashing (signed, FNV-1a) of a text's
 * word unigrams (weight 1), word bigrams (AG_EMBED_BIGRAM_WEIGHT), a crude
 * stem - the first AG_EMBED_STEM_CHARS bytes of longer words
 * (AG_EMBED_STEM_WEIGHT, so "invoice" and "invoices" share it) - and the
 * character trigrams of each word (AG_EMBED_TRIGRAM_WEIGHT shared) into
 * `dims` dimensions,
 * L2-normalised. Words are runs of letters and digits, ASCII and Latin-1
 * capitals lower-cased; words under 3 bytes and a short multilingual list of
 * function words are left out. Two texts score high on cosine similarity when they share words or
 * word stems, whatever those words mean.
 *
 * The model name stored next to a vector (chunks.embedding_model) is
 * "hashed-v1-<dims>", so vectors of another dimension or provider are never
 * compared with these.
 */
#ifndef AEGIS_EMBED_H
#define AEGIS_EMBED_H

#include <stdbool.h>
#include <stddef.h>

#define AG_EMBED_DIMS_DEFAULT   512 /* AI_EMBED_DIMS default */
#define AG_EMBED_DIMS_MIN       16
#define AG_EMBED_DIMS_MAX       4096        /* highest AI_EMBED_DIMS; also the largest vector the gateway accepts */
#define AG_EMBED_MAX_BYTES      (64 * 1024) /* only the first this-many bytes of a text are embedded */
#define AG_EMBED_BIGRAM_WEIGHT  0.5f
#define AG_EMBED_TRIGRAM_WEIGHT 0.5f /* shared by a word's trigrams (each gets this / sqrt(word length)) */
#define AG_EMBED_STEM_CHARS     5
#define AG_EMBED_STEM_WEIGHT    0.7f
#define AG_EMBED_MODEL_MAX      32 /* "hashed-v1-4096" with its NUL, room to spare */

/*
 * Fill out[0..dims) with the embedding of text[0..len) (UTF-8; invalid bytes
 * are word characters, harmlessly). dims must be AG_EMBED_DIMS_MIN..MAX.
 * Returns false when the text has no word to embed (out is then all zero).
 * Pure, thread-safe, no allocation.
 */
bool ag_embed_hashed(const char *text, size_t len, float *out, size_t dims);

/*
 * A to_tsquery('simple', …) text that finds the chunks sharing at least one
 * feature-bearing word stem with text: the first AG_EMBED_STEM_CHARS bytes
 * of each word the embedding counts, as prefix terms ("invoi:* | payme:*").
 * Semantic search uses it to pick candidates through the GIN index before
 * computing cosine similarity. false (out "") when text has no such word;
 * terms that do not fit in outsz are left out.
 */
bool ag_embed_prefix_query(const char *text, size_t len, char *out, size_t outsz);

/* The model name for vectors of `dims` dimensions ("hashed-v1-256") into out. */
void ag_embed_model(size_t dims, char out[AG_EMBED_MODEL_MAX]);

/* Cosine similarity of two vectors of n floats (0 when either is all zero). */
double ag_embed_cosine(const float *a, const float *b, size_t n);

/* A vector as a PostgreSQL real[] literal "{0.1,-0.2,...}" (%.7g each); malloc'd, NULL on OOM. */
char *ag_embed_pg_array(const float *v, size_t n);

#endif
