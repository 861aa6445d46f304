-- 0003_durable_orchestration.sql - what durable orchestration needs beyond
-- the skeleton: step heartbeats (so the sweeper can tell a dead attempt from
-- a slow one), the attempts history of every step (visible in GET
-- /v1/jobs/{id} and with dead letters), and indexes for the sweeper and the
-- dead-letter listing.

-- Last sign of life of the running attempt: set by the claim and by the
-- step runner's throttled heartbeat. The sweeper redispatches a running
-- step whose heartbeat is older than the step's timeout, with attempt + 1.
ALTER TABLE job_steps ADD COLUMN heartbeat_at timestamptz;
CREATE INDEX job_steps_active ON job_steps(state, heartbeat_at) WHERE state IN ('dispatched', 'running');

-- One row per finished delivery of a step: succeeded, failed, rejected,
-- retried (a transient error that was NAKed) or timed_out (the sweeper
-- took the attempt away). Written in the transaction that records the
-- outcome, so a committed outcome always has its row.
CREATE TABLE step_attempts (
    id          bigserial PRIMARY KEY,
    job_id      uuid NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    step        text NOT NULL,
    attempt     integer NOT NULL,
    delivery    integer NOT NULL DEFAULT 0,
    worker      text,
    outcome     text NOT NULL
                CHECK (outcome IN ('succeeded', 'failed', 'rejected', 'retried', 'timed_out', 'dead_lettered')),
    error_code  text,
    error       text,
    started_at  timestamptz,
    finished_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX step_attempts_job ON step_attempts(job_id, step, id);

CREATE INDEX dead_letters_created ON dead_letters(created_at DESC, id DESC);
CREATE INDEX dead_letters_job ON dead_letters(job_id);
