-- 0001_init.sql - the system of record of Aegis.
-- Every query of user data is scoped by owner_id; child tables of documents
-- are reached through documents.owner_id.

CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text NOT NULL UNIQUE,           -- normalised: trimmed, lower-case
    password_hash text NOT NULL,                  -- self-describing argon2id string
    role          text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    family_id   uuid NOT NULL,
    token_hash  bytea NOT NULL UNIQUE,            -- SHA-256 of the opaque token
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);

-- JWT signing keys. The private half is sealed with a key derived from the
-- configured secret; verification keys stay published until their last
-- token expired.
CREATE TABLE signing_keys (
    kid             text PRIMARY KEY,
    alg             text NOT NULL,
    public_key      bytea NOT NULL,
    private_key_enc bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    retire_at       timestamptz NOT NULL,         -- stop signing with it
    expires_at      timestamptz NOT NULL          -- stop publishing it
);

CREATE TABLE documents (
    id           uuid PRIMARY KEY,
    owner_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    filename     text NOT NULL,
    claimed_mime text,
    sniffed_mime text,
    size         bigint NOT NULL CHECK (size >= 0),
    sha256       text NOT NULL,
    storage_key  text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX documents_owner_created ON documents(owner_id, created_at DESC, id DESC);

CREATE TABLE jobs (
    id              uuid PRIMARY KEY,
    owner_id        uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    document_id     uuid NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    state           text NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'rejected', 'cancelled')),
    error_code      text,
    error           text,
    idempotency_key text,
    traceparent     text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    UNIQUE (owner_id, idempotency_key)
);
CREATE INDEX jobs_owner_created ON jobs(owner_id, created_at DESC, id DESC);
CREATE INDEX jobs_active ON jobs(updated_at) WHERE state IN ('queued', 'running');

-- One row per step of a job. `attempt` is the orchestrator's dispatch count
-- and the fencing token: a worker may only record an outcome for the
-- attempt it was given.
CREATE TABLE job_steps (
    job_id        uuid NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (name IN ('validate', 'metadata', 'content', 'ai')),
    state         text NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'dispatched', 'running', 'succeeded', 'failed', 'rejected',
                                   'skipped', 'cancelled')),
    attempt       integer NOT NULL DEFAULT 0,
    deliveries    integer NOT NULL DEFAULT 0,
    worker        text,
    error_code    text,
    error         text,
    dispatched_at timestamptz,
    started_at    timestamptz,
    finished_at   timestamptz,
    PRIMARY KEY (job_id, name)
);

CREATE TABLE job_events (
    id         bigserial PRIMARY KEY,
    job_id     uuid NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    job_state  text NOT NULL,
    step       text,
    step_state text,
    error      text,
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_events_job ON job_events(job_id, id);

CREATE TABLE document_metadata (
    document_id uuid PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
    metadata    jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE document_content (
    document_id uuid PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
    text        text NOT NULL,
    charset     text,
    chars       integer NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE chunks (
    document_id uuid NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    seq         integer NOT NULL,
    text        text NOT NULL,
    tsv         tsvector GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED,
    embedding   real[],
    PRIMARY KEY (document_id, seq)
);
CREATE INDEX chunks_tsv ON chunks USING gin(tsv);

CREATE TABLE ai_results (
    document_id uuid PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
    summary     text,
    keywords    jsonb NOT NULL DEFAULT '[]',
    language    text,
    category    text,
    pii         jsonb,
    provider    text NOT NULL,
    model       text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Steps that exhausted their attempts, with the last error, for operators.
CREATE TABLE dead_letters (
    id         bigserial PRIMARY KEY,
    job_id     uuid NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    step       text NOT NULL,
    attempt    integer NOT NULL,
    deliveries integer NOT NULL,
    error      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
