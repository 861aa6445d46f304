-- 0004_rate_limits.sql - request counters of the gateway's rate limits, shared
-- by every replica so that a budget holds across them. One row per key
-- ("u:<user id>" or "ip:<address>", with the route class) and fixed window;
-- each request bumps its rows with one INSERT … ON CONFLICT … RETURNING.
-- UNLOGGED: counters are cheap to lose in a crash (a window restarts) and
-- should not cost WAL. The gateway deletes rows whose window has ended.
CREATE UNLOGGED TABLE rate_limit_counters (
    key          text    NOT NULL,
    window_s     integer NOT NULL CHECK (window_s > 0),       -- 60, 3600 or 86400
    window_start bigint  NOT NULL,                            -- epoch seconds, a multiple of window_s
    count        integer NOT NULL,
    PRIMARY KEY (key, window_s, window_start)
);
CREATE INDEX rate_limit_counters_end ON rate_limit_counters ((window_start + window_s));
