/*
 * disposition.h - Content-Disposition header values (RFC 6266, RFC 7578
 * §4.2), as sent in multipart/form-data part headers and on raw uploads:
 *
 *   form-data; name="file"; filename="report.pdf"
 *   attachment; filename="EURO rates.txt"; filename*=UTF-8''%e2%82%ac%20rates.txt
 *
 * filename* (RFC 8187; UTF-8 or ISO-8859-1) wins over filename. The result
 * is the raw name as the client sent it: sanitise it with filename.h before
 * storing or showing it.
 */
#ifndef GATEWAY_DISPOSITION_H
#define GATEWAY_DISPOSITION_H

#include "aegis/status.h"

#include <stdbool.h>

#define DISPOSITION_TYPE_MAX  32
#define DISPOSITION_VALUE_MAX 1024 /* raw name or filename bytes, before sanitising */

typedef struct disposition {
	char type[DISPOSITION_TYPE_MAX + 1]; /* lower-case: "form-data", "attachment", "inline" */
	char name[DISPOSITION_VALUE_MAX + 1];
	bool has_name;
	char filename[DISPOSITION_VALUE_MAX + 1]; /* raw bytes, may be invalid UTF-8 */
	bool has_filename;
} disposition;

/*
 * Parse `value` into *out. AG_E_PROTO when malformed (bad syntax, a
 * parameter given twice), AG_E_TOOBIG when name or filename exceed
 * DISPOSITION_VALUE_MAX. A filename* in an unknown charset is ignored.
 */
ag_status disposition_parse(const char *value, disposition *out);

#endif
