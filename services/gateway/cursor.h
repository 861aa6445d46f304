/*
 * cursor.h - the opaque pagination cursor of GET /v1/documents and GET
 * /v1/jobs: the keyset position (created_at in microseconds since the epoch,
 * document or job id) of the
 * last item of a page, as unpadded base64url of a versioned 25-byte record.
 * Clients must treat it as opaque; the server rejects anything it did not
 * produce in shape (wrong length, alphabet, version).
 */
#ifndef GATEWAY_CURSOR_H
#define GATEWAY_CURSOR_H

#include "uuid.h"

#include "aegis/status.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#define CURSOR_TEXT_MAX 48 /* encoded length is 34; room to spare, NUL included */

/* Encode; AG_E_INVAL when id is not a UUID or out is too small. */
ag_status cursor_encode(int64_t created_us, const char *id, char *out, size_t outsz);
/* Decode; AG_E_INVAL for anything malformed. */
ag_status cursor_decode(const char *text, int64_t *created_us, char id[UUID_TEXT_LEN + 1]);

/*
 * The next_cursor of a page of a keyset query that asked for one row more than it shows: JSON null when it found
 * at most `shown` rows, else the cursor of row shown - 1 (its id in column 0, created_at in microseconds in
 * column `us_col`). NULL when it cannot be made (not a UUID or a number, or out of memory).
 */
json_t *cursor_next_json(const PGresult *r, int shown, int us_col);

#endif
