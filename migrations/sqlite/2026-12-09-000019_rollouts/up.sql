-- Staged rollouts, their guardrails, and the incident record (README
-- "Staged rollouts and rescue").

-- A rollout: production serves `version_id` to the new runs of users whose
-- rollout bucket is below `percent`, `previous_id` to every other new run.
-- At most one is running per channel. `guardrails` is the last judgement,
-- as JSON (a list of {"name", "kind", "control", "treatment", "lift", "ci",
-- "breached"}).
CREATE TABLE rollouts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    channel     TEXT NOT NULL CHECK (channel IN ('production')),
    version_id  TEXT NOT NULL REFERENCES versions (id),
    previous_id TEXT NOT NULL REFERENCES versions (id),
    percent     DOUBLE PRECISION NOT NULL CHECK (percent > 0 AND percent <= 100),
    state       TEXT NOT NULL CHECK (state IN ('running', 'completed', 'aborted', 'rolled_back')),
    started_at  TIMESTAMP NOT NULL,
    started_by  TEXT NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    updated_by  TEXT NOT NULL,
    ended_at    TIMESTAMP,
    guardrails  TEXT NOT NULL DEFAULT '[]',
    checked_at  TIMESTAMP
);
CREATE UNIQUE INDEX rollouts_one_running ON rollouts (channel) WHERE state = 'running';

-- What the on-call engineer pastes into an incident report: each automatic
-- rollback and each rescue, with its figures and impact scope as JSON.
CREATE TABLE incidents (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL CHECK (kind IN ('rolled_back', 'rescued')),
    occurred_at TIMESTAMP NOT NULL,
    actor       TEXT NOT NULL,
    channel     TEXT NOT NULL,
    version_id  TEXT NOT NULL,
    to_version  TEXT NOT NULL,
    guardrail   TEXT,
    details     TEXT NOT NULL
);
CREATE INDEX incidents_occurred_at ON incidents (occurred_at);

-- The guardrails' read: a channel's runs started since a rollout began.
CREATE INDEX runs_channel_started ON runs (channel, started_at);

-- rescued events: a run moved from its version onto another at the same
-- step. SQLite cannot change a CHECK constraint: the table is copied.
CREATE TABLE events_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT NOT NULL CHECK (kind IN ('scene_shown', 'answered', 'exposure', 'completed', 'run_reset', 'went_back', 'rescued')),
    occurred_at   TIMESTAMP NOT NULL,
    user_id       TEXT NOT NULL,
    run_id        TEXT NOT NULL,
    version_id    TEXT NOT NULL,
    channel       TEXT NOT NULL,
    step_key      TEXT,
    scene_key     TEXT,
    experiment_id TEXT,
    variation_id  TEXT,
    offline       BOOLEAN NOT NULL DEFAULT FALSE
);
INSERT INTO events_new SELECT id, kind, occurred_at, user_id, run_id, version_id, channel,
    step_key, scene_key, experiment_id, variation_id, offline FROM events;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_occurred_at ON events (occurred_at);
CREATE INDEX events_version_kind ON events (version_id, kind);
