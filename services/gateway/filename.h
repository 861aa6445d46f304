/*
 * filename.h - turn a client-supplied file name into one that is safe to
 * store and show: the last path component only (both '/' and '\'), no
 * control characters (C0, DEL, C1) and no bidirectional overrides (the
 * "invoice\u202Efdp.exe" trick), invalid UTF-8 replaced by U+FFFD, outer
 * whitespace trimmed, at most AG_FILENAME_MAX_BYTES bytes cut on a character
 * boundary (keeping a short extension), and "upload" when nothing is left
 * (or the name is "." or "..").
 */
#ifndef GATEWAY_FILENAME_H
#define GATEWAY_FILENAME_H

#include "aegis/limits.h"

#include <stddef.h>

#define FILENAME_EXT_MAX 16 /* bytes of extension (with the dot) kept when a long name is cut */

/* Sanitise `len` bytes at `in` into out (always NUL-terminated, never empty). Returns strlen(out). */
size_t filename_sanitize(const char *in, size_t len, char out[AG_FILENAME_MAX_BYTES + 1]);

#endif
