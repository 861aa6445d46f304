/*
 * submit.h - what every way of uploading does once the file is stored:
 * record the document and its queued job in PostgreSQL, announce
 * JobSubmitted on the bus, and honour an Idempotency-Key. Used by
 * POST /v1/files (upload.c) and by the end of a tus upload (tus_finish in tus_store.c),
 * so both make exactly the same rows and message.
 *
 * Threading: the functions taking a PGconn block; call them from the thread
 * pool (ag_http_req_defer work), like the rest of the database code.
 */
#ifndef GATEWAY_SUBMIT_H
#define GATEWAY_SUBMIT_H

#include "filename.h"
#include "gateway.h"
#include "uuid.h"

#include <stdint.h>

#define SUBMIT_SHA256_HEX_LEN 64
#define SUBMIT_IDEM_KEY_LIMIT 1024 /* the most IDEMPOTENCY_KEY_MAX_BYTES may be set to */
#define SUBMIT_BATCH_LIMIT    256  /* the most documents one submit_record_many statement records */

/* A stored file about to become a job. Strings are borrowed for the call. */
typedef struct submit_doc {
	const char *document_id;
	const char *job_id;
	const char *owner;
	const char *filename;
	const char *mime;            /* claimed type; NULL or "" when none */
	const char *sha256;          /* hex */
	const char *key;             /* storage key of the stored file */
	const char *idempotency_key; /* NULL or "" when none */
	uint64_t size;
	const ag_trace *trace;
} submit_doc;

/* What an earlier request with the same Idempotency-Key made. */
typedef struct submit_prior {
	char job_id[UUID_TEXT_LEN + 1];
	char document_id[UUID_TEXT_LEN + 1];
	char sha256[SUBMIT_SHA256_HEX_LEN + 1];
	char filename[AG_FILENAME_MAX_BYTES + 1];
	uint64_t size;
} submit_prior;

/* What reserving an Idempotency-Key found (submit_idem_reserve). */
typedef enum submit_idem_state {
	SUBMIT_IDEM_HELD,   /* reserved for the caller: go on, then link or release */
	SUBMIT_IDEM_DONE,   /* a request with this key made a job (`prior`): compare, replay or refuse */
	SUBMIT_IDEM_IN_USE, /* another request holds it (`retry_after` seconds left on its lease): 409 */
} submit_idem_state;

typedef struct submit_idem {
	submit_idem_state state;
	long long retry_after; /* with IN_USE, >= 1 */
	submit_prior prior;    /* with DONE */
} submit_idem;

/*
 * INSERT the document and its queued job in one statement: alone it is its own transaction, or part of the
 * caller's. AG_E_EXISTS: the owner already has a job with this idempotency key (the unique constraint decided;
 * inside a transaction it is then aborted - roll back). AG_E_INVAL: the owner does not exist (any more).
 */
ag_status submit_record(PGconn *c, const submit_doc *d, ag_err *err);

/* The same for n documents (1 to SUBMIT_BATCH_LIMIT) in one statement: all are recorded or none. */
ag_status submit_record_many(PGconn *c, const submit_doc *const *docs, int n, ag_err *err);

/* The job an earlier request of `owner` made with `key`; AG_E_NOTFOUND when none. */
ag_status submit_prior_find(PGconn *c, const char *owner, const char *key, submit_prior *out, ag_err *err);

/*
 * Idempotency-Key reservations of POST /v1/files (table idempotency_keys, migration 0011), so that two requests
 * with one key on any replicas never both stream their bodies. `holder` names the request (its job id); the
 * lease is `lease_s` seconds from now. reserve: takes the key when it is free or its holder's lease ran out,
 * else says who has it (out). renew: extends the lease; AG_E_CONFLICT when the reservation was lost (another
 * request took it over after it ran out). link: inside the transaction that recorded job `holder`, marks the key
 * as used by it; AG_E_CONFLICT when the reservation was lost (roll back). release: lets it go (failure, abort,
 * or the key turned out to be used already); a reservation not released runs out after its lease.
 */
ag_status submit_idem_reserve(PGconn *c, const char *owner, const char *key, const char *holder, long long lease_s,
                              submit_idem *out, ag_err *err);
ag_status submit_idem_renew(PGconn *c, const char *owner, const char *key, const char *holder, long long lease_s,
                            ag_err *err);
ag_status submit_idem_link(PGconn *c, const char *owner, const char *key, const char *holder, ag_err *err);
ag_status submit_idem_release(PGconn *c, const char *owner, const char *key, const char *holder, ag_err *err);

/* Publish JobSubmitted. Never fails the request: when NATS is down the job stays recorded and the
 * orchestrator's sweeper drives it later (logged). */
void submit_publish(gateway *gw, const submit_doc *d);

/*
 * Check an Idempotency-Key header value: 1 to `max` bytes of visible ASCII
 * (0x21-0x7e). false with a reason for a 400 in `why`.
 */
bool submit_idem_key_valid(const char *key, size_t max, char *why, size_t whysz);

#endif
