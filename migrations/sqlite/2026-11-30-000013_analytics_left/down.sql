CREATE INDEX runs_in_progress_step ON runs (version_id, channel, step_key) WHERE status = 'in_progress';
DROP TABLE analytics_left;
DROP TABLE analytics_run_steps;
CREATE TABLE events_old (
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
INSERT INTO events_old SELECT id, kind, occurred_at, user_id, run_id, version_id, channel,
    step_key, scene_key, experiment_id, variation_id FROM events WHERE kind <> 'run_reset';
DROP TABLE events;
ALTER TABLE events_old RENAME TO events;
CREATE INDEX events_occurred_at ON events (occurred_at);
CREATE INDEX events_version_kind ON events (version_id, kind);
