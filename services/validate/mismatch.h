/*
 * mismatch.h - does the type a client said a file has (its claimed MIME
 * type, its file-name extension) disagree with the type sniffed from its
 * bytes? validate applies VALIDATE_MISMATCH to the answer (allow: record
 * it; reject: "type_mismatch").
 *
 * Text is a family: a file claimed or named as any text type (text/...,
 * JSON, XML, CSV, Markdown, ...) agrees with any sniffed text type, since
 * libmagic tells Markdown or CSV from plain text by guesswork. A missing
 * claim, application/octet-stream and unknown extensions make no claim.
 */
#ifndef VALIDATE_MISMATCH_H
#define VALIDATE_MISMATCH_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { MISMATCH_ALLOW, MISMATCH_REJECT } mismatch_policy;

/* "allow" or "reject" -> policy; false for anything else. */
bool mismatch_policy_parse(const char *s, mismatch_policy *out);

/* true when the claim or the extension disagrees with `sniffed`; then `why` holds a sentence naming both. */
bool mismatch_check(const char *filename, const char *claimed, const char *sniffed, char *why, size_t whylen);

#endif
