-- Aggregates the background aggregator keeps from the event log, so the
-- analytics endpoints never scan `events` (README "Analytics at scale").

-- How far each reader of the log got: `aggregates` (the aggregator),
-- `rebuild:VERSION` (a rebuild of one version, up to `until_id`), `sink`.
CREATE TABLE analytics_cursors (
    name       TEXT PRIMARY KEY,
    last_id    BIGINT NOT NULL,
    until_id   BIGINT,
    updated_at TIMESTAMP NOT NULL
);

-- The distinct-user sets behind the counters: one row per user and thing
-- counted (kind `started`, `completed`, `scene_shown`, `answered` per step;
-- `exposure`, `conversion` per experiment and variant, channel '').
CREATE TABLE analytics_members (
    version_id TEXT NOT NULL,
    channel    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    step_key   TEXT NOT NULL,
    variant    TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    first_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (version_id, channel, kind, step_key, variant, user_id)
);
CREATE INDEX analytics_members_user ON analytics_members (user_id, version_id);

-- The counters the endpoints read: distinct users, first and last event.
CREATE TABLE analytics_counts (
    version_id TEXT NOT NULL,
    channel    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    step_key   TEXT NOT NULL,
    variant    TEXT NOT NULL,
    users      BIGINT NOT NULL,
    first_at   TIMESTAMP NOT NULL,
    last_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (version_id, channel, kind, step_key, variant)
);

-- Exposures per run, and runs completed (experiment_id ''), so a completion
-- converts the run's exposures whichever event comes first.
CREATE TABLE analytics_runs (
    run_id        TEXT NOT NULL,
    experiment_id TEXT NOT NULL,
    variation_id  TEXT NOT NULL,
    version_id    TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    PRIMARY KEY (run_id, experiment_id, variation_id)
);
CREATE INDEX analytics_runs_version ON analytics_runs (version_id);

-- Time to answer per step: a log-bucket histogram (README "Analytics at scale").
CREATE TABLE analytics_durations (
    version_id TEXT NOT NULL,
    channel    TEXT NOT NULL,
    step_key   TEXT NOT NULL,
    bucket     INTEGER NOT NULL,
    users      BIGINT NOT NULL,
    PRIMARY KEY (version_id, channel, step_key, bucket)
);

-- Runs still in progress per step, for the funnel's "left" column.
CREATE INDEX runs_in_progress_step ON runs (version_id, channel, step_key) WHERE status = 'in_progress';

INSERT INTO analytics_cursors (name, last_id, until_id, updated_at) VALUES ('aggregates', 0, NULL, CURRENT_TIMESTAMP);
