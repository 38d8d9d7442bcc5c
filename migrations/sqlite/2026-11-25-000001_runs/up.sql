-- Runs of users through a flow, their answers, A/B assignments, the testers
-- served the staging channel, and the event log analytics reads.
CREATE TABLE testers (
    user_id  TEXT PRIMARY KEY CHECK (length(user_id) BETWEEN 1 AND 255),
    added_by TEXT NOT NULL,
    added_at TIMESTAMP NOT NULL
);

-- One run per user and channel, pinned to the version it started on.
-- `revision` is the optimistic-concurrency counter: every write checks it.
CREATE TABLE runs (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL CHECK (length(user_id) BETWEEN 1 AND 255),
    channel      TEXT NOT NULL CHECK (channel IN ('staging', 'production')),
    version_id   TEXT NOT NULL REFERENCES versions (id),
    status       TEXT NOT NULL CHECK (status IN ('in_progress', 'completed')),
    step_key     TEXT,
    scene_key    TEXT,
    scene_id     TEXT,
    shown        INTEGER NOT NULL CHECK (shown >= 0),
    answered     INTEGER NOT NULL CHECK (answered >= 0),
    attributes   TEXT NOT NULL,
    answers      TEXT NOT NULL,
    revision     INTEGER NOT NULL,
    started_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    completed_at TIMESTAMP,
    UNIQUE (user_id, channel),
    CHECK ((status = 'completed') = (scene_id IS NULL))
);

-- Each accepted answer, with the state it returned, so a retry gets the same.
CREATE TABLE run_answers (
    run_id     TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    scene_id   TEXT NOT NULL,
    step_key   TEXT NOT NULL,
    scene_key  TEXT NOT NULL,
    answer     TEXT NOT NULL,
    response   TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (run_id, scene_id)
);

-- Sticky A/B assignments: kept across versions while the scene still exists.
CREATE TABLE assignments (
    user_id        TEXT NOT NULL,
    step_key       TEXT NOT NULL,
    condition_name TEXT NOT NULL,
    scene_key      TEXT NOT NULL,
    source         TEXT NOT NULL CHECK (source IN ('bucket', 'forced')),
    assigned_at    TIMESTAMP NOT NULL,
    exposed_at     TIMESTAMP,
    PRIMARY KEY (user_id, step_key, condition_name)
);

-- Append-only; no foreign keys, so resets and deleted runs keep their history.
-- An exposure row is (user_id, occurred_at, experiment_id, variation_id).
CREATE TABLE events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT NOT NULL CHECK (kind IN ('scene_shown', 'answered', 'exposure', 'completed')),
    occurred_at   TIMESTAMP NOT NULL,
    user_id       TEXT NOT NULL,
    run_id        TEXT NOT NULL,
    version_id    TEXT NOT NULL,
    channel       TEXT NOT NULL,
    step_key      TEXT,
    scene_key     TEXT,
    experiment_id TEXT,
    variation_id  TEXT
);
CREATE INDEX events_occurred_at ON events (occurred_at);
CREATE INDEX events_version_kind ON events (version_id, kind);
