-- 0007_uploads.sql - resumable (tus 1.0.0) uploads.
--
-- One row per upload: its declared length and the durable offset (bytes
-- already fsynced to the staging object under storage_key; the gateway
-- only raises "offset" after the fsync, so it never exceeds what storage
-- holds). Any gateway replica serves any request: a PATCH holds the upload
-- through a lease (lease_holder, lease_until), taken with a conditional
-- UPDATE and renewed while bytes flow, so two PATCHes never interleave and
-- a replica that died mid-PATCH lets go when its lease runs out.
-- document_id and job_id are chosen at creation so that completing (rename
-- to documents/<document_id>, INSERT document + job, state 'completed') can
-- be redone after a crash without making a second job.
CREATE TABLE uploads (
    id              uuid PRIMARY KEY,
    owner_id        uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    length          bigint NOT NULL CHECK (length > 0),
    "offset"        bigint NOT NULL DEFAULT 0,
    metadata        text,                         -- the Upload-Metadata header as sent
    filename        text NOT NULL,                -- sanitised, from the metadata
    claimed_mime    text,
    storage_key     text NOT NULL,                -- the staging object
    document_id     uuid NOT NULL,
    job_id          uuid NOT NULL,
    state           text NOT NULL DEFAULT 'receiving'
                    CHECK (state IN ('receiving', 'completed', 'expired')),
    idempotency_key text,
    request_sha256  text,                         -- of Upload-Length + Upload-Metadata, for key reuse checks
    lease_holder    uuid,
    lease_until     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    CHECK ("offset" >= 0 AND "offset" <= length),
    UNIQUE (owner_id, idempotency_key)
);
CREATE INDEX uploads_expiring ON uploads(expires_at) WHERE state = 'receiving';
