/*
 * hparams.h - the parameter syntax shared by Content-Type and
 * Content-Disposition (RFC 9110 §5.6.6): `value *( OWS ";" OWS name "=" value )`
 * where a value is a token or a quoted-string. Used by the gateway's
 * multipart and Content-Disposition parsers; pure functions, no allocation.
 */
#ifndef GATEWAY_HPARAMS_H
#define GATEWAY_HPARAMS_H

#include "aegis/status.h"

#include <stdbool.h>
#include <stddef.h>

#define HPARAMS_NAME_MAX       32  /* longest parameter name we accept ("filename*" is 9) */
#define HPARAMS_MEDIA_TYPE_MAX 127 /* "type/subtype" (RFC 6838 caps each half at 127) */

/*
 * Read the leading token of a header value (e.g. "form-data" or
 * "multipart/form-data") into out, lower-cased, and leave *cur just after it.
 * AG_E_PROTO when there is no token, AG_E_TOOBIG when it does not fit.
 */
ag_status hparams_token(const char **cur, char *out, size_t outsz);

/*
 * Read the next `; name=value` at *cur. On AG_OK, `name` is lower-cased and
 * `value` unquoted (a quoted-pair `\"` or `\\` becomes the escaped
 * character; any other backslash is kept literally, because browsers send
 * Windows paths unescaped). An unquoted value runs to the next ';' with
 * trailing whitespace trimmed (lenient towards clients that do not quote
 * filenames with spaces). Returns AG_E_NOTFOUND at the end of the value,
 * AG_E_PROTO on bad syntax, AG_E_TOOBIG when name or value does not fit.
 */
ag_status hparams_next(const char **cur, char name[HPARAMS_NAME_MAX + 1], char *value, size_t valuesz,
                       size_t *valuelen);

/*
 * The media type of a Content-Type value, lower-cased ("text/plain" from
 * "Text/Plain; charset=utf-8"). false when it is not `token "/" token` or
 * does not fit in outsz.
 */
bool hparams_media_type(const char *content_type, char *out, size_t outsz);

#endif
