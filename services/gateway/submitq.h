/*
 * submitq.h - group commit for uploads: the documents and jobs of uploads
 * that finish at about the same time are recorded by one statement (one
 * round trip and one WAL flush) instead of one transaction each.
 *
 * Whoever calls submitq_record while no batch is running becomes the leader:
 * it takes every waiting upload (up to `max`), records them with
 * submit_record_many, wakes their callers and returns. Calls that arrive
 * meanwhile wait, and the next batch takes them all. No thread of its own:
 * the callers are thread-pool threads that would otherwise each have run
 * their own transaction. When a batch fails (say one owner was deleted),
 * its uploads are recorded one by one, so one bad upload fails alone.
 *
 * Uploads with an Idempotency-Key are not batched: their insert shares a
 * transaction with the key's reservation (upload.c).
 *
 * Threading: submitq_record blocks (PostgreSQL); call it from the thread
 * pool. new/free on the loop thread, free after every call returned.
 */
#ifndef GATEWAY_SUBMITQ_H
#define GATEWAY_SUBMITQ_H

#include "submit.h"

typedef struct submitq submitq;

/* `max` uploads per statement (1 to SUBMIT_BATCH_LIMIT); `metrics` gets the batch-size histogram. */
ag_status submitq_new(submitq **out, ag_db_pool *db, int max, ag_metrics *metrics);
void submitq_free(submitq *q); /* NULL ok */

/* Record d's document and queued job (see submit_record); returns once it is committed or failed. */
ag_status submitq_record(submitq *q, const submit_doc *d, ag_err *err);

#endif
