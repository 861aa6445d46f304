-- 0002_auth_security.sql - accounts beyond the first cut: login throttling,
-- personal API keys, identities from external OIDC issuers, and what
-- refresh-token rotation and admin actions need.

-- Failed-login counters. `key` is 'pair:' || sha256(email, client ip) (hex)
-- or 'ip:' || client ip; never a raw email. Rows decay on their own: a
-- counter older than the lockout time starts again at 1.
CREATE TABLE login_throttle (
    key           text PRIMARY KEY,
    failures      integer NOT NULL,
    last_failure  timestamptz NOT NULL DEFAULT now(),
    blocked_until timestamptz
);

-- Personal API keys: 'agk_' + 43 base64url characters, shown once; only the
-- SHA-256 of the whole key is kept. `prefix` (the first characters) lets a
-- user recognise a key in a listing.
CREATE TABLE api_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         text NOT NULL,
    prefix       text NOT NULL,
    key_hash     bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_keys_user ON api_keys(user_id, created_at DESC);

-- A user of an external OIDC issuer, mapped to a local account on first sight.
CREATE TABLE user_identities (
    issuer     text NOT NULL,
    subject    text NOT NULL,
    user_id    uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issuer, subject)
);

ALTER TABLE users ADD COLUMN external boolean NOT NULL DEFAULT false; -- no password: signs in through OIDC
ALTER TABLE users ADD COLUMN disabled_at timestamptz;
CREATE INDEX refresh_tokens_user_live ON refresh_tokens(user_id) WHERE revoked_at IS NULL;
