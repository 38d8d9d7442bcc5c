-- Outcome events and metrics (README "Outcomes and experiment results").

-- What the app or a back end reports about a user after onboarding
-- (subscribed, purchase with a value). A second event with the same user
-- and event_id is a duplicate and stores nothing.
CREATE TABLE outcomes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    name        TEXT NOT NULL,
    value       DOUBLE PRECISION NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    received_at TIMESTAMP NOT NULL,
    source      TEXT NOT NULL CHECK (source IN ('app', 'backend'))
);
CREATE UNIQUE INDEX outcomes_user_event ON outcomes (user_id, event_id);
-- The aggregator's lookups: a user's events of a name, by time.
CREATE INDEX outcomes_user_name ON outcomes (user_id, name, occurred_at);

-- A metric: a named rule over outcome events, judged per exposed user from
-- the first exposure (window_hours), or the built-in 'completed'.
CREATE TABLE metrics (
    name         TEXT PRIMARY KEY,
    event        TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('binomial', 'mean', 'count')),
    window_hours INTEGER NOT NULL CHECK (window_hours > 0),
    direction    TEXT NOT NULL CHECK (direction IN ('increase', 'decrease')),
    guardrail    BOOLEAN NOT NULL,
    description  TEXT NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    updated_by   TEXT NOT NULL
);

-- Per exposed user and metric, the user's value in the window (only users
-- whose value is not 0; the others count through the exposures).
CREATE TABLE analytics_metric_values (
    user_id       TEXT NOT NULL,
    metric        TEXT NOT NULL,
    version_id    TEXT NOT NULL,
    experiment_id TEXT NOT NULL,
    variant       TEXT NOT NULL,
    value         DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (user_id, metric, version_id, experiment_id, variant)
);

-- Per metric and variant, the sums of the users' values and of their
-- squares: with the exposures, the sufficient statistics of the results.
CREATE TABLE analytics_metric_stats (
    metric        TEXT NOT NULL,
    version_id    TEXT NOT NULL,
    experiment_id TEXT NOT NULL,
    variant       TEXT NOT NULL,
    sum           DOUBLE PRECISION NOT NULL,
    sum_squares   DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (metric, version_id, experiment_id, variant)
);

-- Once a day, the figures of every experiment and metric as they stood:
-- the points of the dashboard's cumulative lift over time.
CREATE TABLE analytics_metric_daily (
    day           TEXT NOT NULL,
    metric        TEXT NOT NULL,
    version_id    TEXT NOT NULL,
    experiment_id TEXT NOT NULL,
    variant       TEXT NOT NULL,
    users         BIGINT NOT NULL,
    sum           DOUBLE PRECISION NOT NULL,
    sum_squares   DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (metric, version_id, experiment_id, day, variant)
);

-- The `ingest` role: admin tokens that may only send outcome events.
-- SQLite cannot change a CHECK in place: the (small) table is copied.
CREATE TABLE admin_tokens_new (
    token_hash TEXT PRIMARY KEY CHECK (length(token_hash) = 64 AND token_hash NOT GLOB '*[^0-9a-f]*'),
    name       TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('ingest', 'operator', 'qa', 'admin')),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP
);
INSERT INTO admin_tokens_new SELECT token_hash, name, role, created_at, expires_at FROM admin_tokens;
DROP TABLE admin_tokens;
ALTER TABLE admin_tokens_new RENAME TO admin_tokens;
