/*
 * cursor.h - the opaque pagination cursor of GET /v1/documents: the keyset
 * position (created_at in microseconds since the epoch, document id) of the
 * last item of a page, as unpadded base64url of a versioned 25-byte record.
 * Clients must treat it as opaque; the server rejects anything it did not
 * produce in shape (wrong length, alphabet, version).
 */
#ifndef GATEWAY_CURSOR_H
#define GATEWAY_CURSOR_H

#include "uuid.h"

#include "aegis/status.h"

#include <stddef.h>
#include <stdint.h>

#define CURSOR_TEXT_MAX 48 /* encoded length is 34; room to spare, NUL included */

/* Encode; AG_E_INVAL when id is not a UUID or out is too small. */
ag_status cursor_encode(int64_t created_us, const char *id, char *out, size_t outsz);
/* Decode; AG_E_INVAL for anything malformed. */
ag_status cursor_decode(const char *text, int64_t *created_us, char id[UUID_TEXT_LEN + 1]);

#endif
