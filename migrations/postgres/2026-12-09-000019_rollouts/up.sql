-- Staged rollouts, their guardrails, and the incident record (README
-- "Staged rollouts and rescue").

-- A rollout: production serves `version_id` to the new runs of users whose
-- rollout bucket is below `percent`, `previous_id` to every other new run.
-- At most one is running per channel. `guardrails` is the last judgement,
-- as JSON (a list of {"name", "kind", "control", "treatment", "lift", "ci",
-- "breached"}).
CREATE TABLE rollouts (
    id          BIGSERIAL PRIMARY KEY,
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
    id          BIGSERIAL PRIMARY KEY,
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

-- rescued events: a run moved from its version onto another at the same step.
ALTER TABLE events DROP CONSTRAINT events_kind_check;
ALTER TABLE events ADD CONSTRAINT events_kind_check
    CHECK (kind IN ('scene_shown', 'answered', 'exposure', 'completed', 'run_reset', 'went_back', 'rescued'));
