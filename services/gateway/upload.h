/*
 * upload.h - POST /v1/files: stream an upload to storage and submit a job.
 *
 * Body: the file itself (name from ?filename= or a Content-Disposition
 * header, claimed type from Content-Type), or multipart/form-data whose
 * `file` field is the file (other fields are ignored). The body streams to
 * storage under "documents/<document id>" one chunk at a time (the next one
 * is read while a chunk is written on the thread pool, up to 1 MiB ahead and
 * UPLOAD_BUFFER_MB for all uploads), hashed with SHA-256 on the way; it is
 * never held in memory whole.
 *
 * Idempotency-Key (optional, 1..IDEMPOTENCY_KEY_MAX_BYTES visible ASCII):
 * reserved in PostgreSQL before the body is read (submit_idem_reserve), so
 * while a request with the key is in flight any other, on any replica,
 * answers 409 + Retry-After without reading its body. The reservation is
 * renewed while bytes flow (IDEMPOTENCY_LEASE_S), linked to the job on
 * success, deleted on any failure or abort before the answer; a dead
 * gateway's runs out. Once the key made a job, a request with the same file
 * (sha256 + size) under the same sanitised filename answers that job with
 * Idempotent-Replayed: true and stores nothing (its body is only hashed);
 * another file or filename answers 422.
 *
 * Answers: 202 {job_id, document_id} + Location: /v1/jobs/{job_id};
 * 400 (empty file, malformed multipart, no `file` part), 401, 409 (the
 * Idempotency-Key is held by a request in flight), 413 (over
 * MAX_UPLOAD_BYTES, announced or streamed), 503 + Retry-After (storage or
 * database unavailable). Any failure or a client disconnect removes what
 * was stored. Metrics: aegis_uploads_total{outcome}, aegis_upload_bytes_total.
 *
 * Route user data: the `gateway *`.
 */
#ifndef GATEWAY_UPLOAD_H
#define GATEWAY_UPLOAD_H

#include "aegis/http.h"

extern const ag_http_route_ops upload_route;

#endif
