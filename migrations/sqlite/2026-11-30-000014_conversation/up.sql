-- Issue 14. Text of a scene or choice in a language other than the
-- workbook's default (columns COLUMN::TAG). field is message_N (N counts the
-- scene's default bubbles from 1), placeholder, or label (choice_key set).
CREATE TABLE translations (
    version_id TEXT NOT NULL,
    scene_key  TEXT NOT NULL,
    choice_key TEXT NOT NULL DEFAULT '',
    locale     TEXT NOT NULL CHECK (length(locale) BETWEEN 1 AND 64),
    field      TEXT NOT NULL,
    body       TEXT NOT NULL,
    PRIMARY KEY (version_id, scene_key, choice_key, locale, field),
    FOREIGN KEY (version_id, scene_key) REFERENCES scenes (version_id, key) ON DELETE CASCADE
);

-- The workbook's back column: no means users cannot go back past the scene.
ALTER TABLE scenes ADD COLUMN back_allowed BOOLEAN NOT NULL DEFAULT 1;
-- Issue 14, going back. The answer withdrawn from the scene a run went
-- back to, offered to the app as input.previous until it is answered again.
ALTER TABLE runs ADD COLUMN previous_answer TEXT;

-- Each POST /v1/onboarding/back that moved a run, by the scene it left:
-- a repeated back returns the same state.
CREATE TABLE run_backs (
    run_id     TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    scene_id   TEXT NOT NULL,
    from_step  TEXT NOT NULL,
    to_step    TEXT NOT NULL,
    to_scene   TEXT NOT NULL,
    response   TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (run_id, scene_id)
);

-- went_back events (run_reset comes from the analytics migration before this
-- one). SQLite cannot change a CHECK constraint: the table is copied.
CREATE TABLE events_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT NOT NULL CHECK (kind IN ('scene_shown', 'answered', 'exposure', 'completed', 'run_reset', 'went_back')),
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
INSERT INTO events_new SELECT id, kind, occurred_at, user_id, run_id, version_id, channel,
    step_key, scene_key, experiment_id, variation_id FROM events;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_occurred_at ON events (occurred_at);
CREATE INDEX events_version_kind ON events (version_id, kind);
