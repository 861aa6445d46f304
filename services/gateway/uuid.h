/*
 * uuid.h - RFC 9562 UUIDs as the gateway uses them: random version 4 ids for
 * documents and jobs, and strict validation of ids taken from URLs (anything
 * but the canonical 8-4-4-4-12 hex form is "not found", never a database
 * error).
 */
#ifndef GATEWAY_UUID_H
#define GATEWAY_UUID_H

#include <stdbool.h>

#define UUID_TEXT_LEN 36
#define UUID_BYTES    16

/* A random (libsodium CSPRNG) version 4 UUID, lower-case. sodium_init() must have run. */
void uuid_v4(char out[UUID_TEXT_LEN + 1]);
/* true for the canonical text form (hex digits in either case). */
bool uuid_valid(const char *s);
/* Text -> 16 bytes; false when not canonical. */
bool uuid_parse(const char *s, unsigned char out[UUID_BYTES]);
/* 16 bytes -> lower-case text. */
void uuid_format(const unsigned char in[UUID_BYTES], char out[UUID_TEXT_LEN + 1]);

#endif
