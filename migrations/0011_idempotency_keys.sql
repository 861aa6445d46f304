-- 0011_idempotency_keys.sql - Idempotency-Key reservations for POST /v1/files.
--
-- A request with an Idempotency-Key reserves (owner_id, key) before its body
-- streams, so that a second request with the key - on any gateway replica -
-- is answered 409 while the first is still in flight, instead of both
-- streaming their bodies. The holder renews lease_until while bytes flow;
-- a gateway that died holding a reservation lets go when it runs out
-- (IDEMPOTENCY_LEASE_S), and the next request takes it over.
-- On success the row is linked to the job (job_id set, lease_until NULL) in
-- the transaction that records the job; on any failure or abort it is
-- deleted so that a retry can proceed. Whether a later request is "the same"
-- is decided against the job's document (jobs.idempotency_key, documents:
-- sha256, size, filename), which also covers jobs made before this table.
-- Resumable uploads (POST /v1/uploads) need no row here: their uploads row,
-- made before the body streams, is the reservation (0007).
CREATE TABLE idempotency_keys (
    owner_id    uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key         text NOT NULL,
    holder      uuid NOT NULL,                -- the request holding it (its job id)
    job_id      uuid REFERENCES jobs(id) ON DELETE CASCADE, -- set when the request succeeded
    created_at  timestamptz NOT NULL DEFAULT now(),
    lease_until timestamptz,                  -- NULL once linked to a job
    PRIMARY KEY (owner_id, key),
    CHECK ((job_id IS NULL) <> (lease_until IS NULL))
);
