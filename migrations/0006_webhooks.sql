-- 0006_webhooks.sql - user webhooks: the endpoints a user registered and
-- one row per notification to send (a delivery), with its retry state.
--
-- A job's terminal transition (succeeded, failed, rejected, cancelled)
-- enqueues one delivery per matching webhook of the job's owner through a
-- trigger, so the delivery is committed in the same transaction as the
-- transition whoever writes it (the orchestrator's flow, the sweeper's
-- dead-letter, the gateway's cancel), and a rollback takes both back.
-- The orchestrator's webhook sender claims due rows (FOR UPDATE SKIP
-- LOCKED), POSTs them and records each attempt.

-- The signing secret is stored as given to the user (64 hex digits of a
-- random 32-byte key): the sender needs it in clear to compute the HMAC, so
-- hashing is not an option, and encrypting it with a key the same process
-- holds would protect nothing the database's own access control does not.
-- It is returned once, by POST /v1/webhooks, and never listed again.
CREATE TABLE webhooks (
    id         uuid PRIMARY KEY,
    owner_id   uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    url        text NOT NULL CHECK (length(url) BETWEEN 8 AND 2048),
    secret     text NOT NULL,
    -- event names (job.succeeded, job.failed, job.rejected, job.cancelled); empty = all of them
    events     text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_owner ON webhooks(owner_id, created_at DESC, id DESC);

CREATE TABLE webhook_deliveries (
    id               bigserial PRIMARY KEY,
    webhook_id       uuid NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    job_id           uuid NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    event            text NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_at          timestamptz NOT NULL DEFAULT now(),
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, id DESC);

CREATE FUNCTION webhooks_enqueue() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO webhook_deliveries (webhook_id, job_id, event)
    SELECT w.id, NEW.id, 'job.' || NEW.state FROM webhooks w
    WHERE w.owner_id = NEW.owner_id AND (cardinality(w.events) = 0 OR 'job.' || NEW.state = ANY (w.events));
    RETURN NULL;
END
$fn$;

CREATE TRIGGER jobs_webhooks_update AFTER UPDATE OF state ON jobs FOR EACH ROW
    WHEN (NEW.state IN ('succeeded', 'failed', 'rejected', 'cancelled') AND OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION webhooks_enqueue();
CREATE TRIGGER jobs_webhooks_insert AFTER INSERT ON jobs FOR EACH ROW
    WHEN (NEW.state IN ('succeeded', 'failed', 'rejected', 'cancelled'))
    EXECUTE FUNCTION webhooks_enqueue();
