-- Versions are immutable, content-addressed workbooks; their normalised
-- content lives in steps, scenes, scene_messages and choices.
CREATE TABLE versions (
    id            TEXT PRIMARY KEY CHECK (length(id) = 12 AND id NOT GLOB '*[^0-9a-f]*'),
    sha256        TEXT NOT NULL UNIQUE CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*' AND substr(sha256, 1, 12) = id),
    file_name     TEXT,
    format        TEXT NOT NULL CHECK (format IN ('xlsx', 'xls', 'ods')),
    store_key     TEXT NOT NULL,
    size_bytes    INTEGER NOT NULL CHECK (size_bytes > 0),
    uploaded_by   TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    report        TEXT NOT NULL,
    step_count    INTEGER NOT NULL CHECK (step_count > 0),
    scene_count   INTEGER NOT NULL CHECK (scene_count > 0),
    choice_count  INTEGER NOT NULL CHECK (choice_count >= 0),
    warning_count INTEGER NOT NULL CHECK (warning_count >= 0)
);

CREATE TABLE steps (
    version_id TEXT NOT NULL REFERENCES versions (id) ON DELETE CASCADE,
    key        TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 64 AND key NOT GLOB '*[^a-z0-9_]*'),
    position   INTEGER NOT NULL CHECK (position >= 0),
    PRIMARY KEY (version_id, key),
    UNIQUE (version_id, position)
);

CREATE TABLE scenes (
    version_id     TEXT NOT NULL,
    key            TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 64 AND key NOT GLOB '*[^a-z0-9_]*'),
    step_key       TEXT NOT NULL,
    position       INTEGER NOT NULL CHECK (position >= 0),
    sheet_row      INTEGER NOT NULL,
    condition_name TEXT NOT NULL,
    weight         REAL NOT NULL CHECK (weight > 0),
    input_kind     TEXT NOT NULL CHECK (input_kind IN ('none', 'choice', 'multi_choice', 'text', 'number', 'date')),
    save_as        TEXT CHECK (length(save_as) BETWEEN 1 AND 64 AND save_as NOT GLOB '*[^a-z0-9_]*'),
    min_bound      TEXT,
    max_bound      TEXT,
    placeholder    TEXT,
    next_step      TEXT,
    PRIMARY KEY (version_id, key),
    UNIQUE (version_id, position),
    FOREIGN KEY (version_id, step_key) REFERENCES steps (version_id, key) ON DELETE CASCADE
);

CREATE TABLE scene_messages (
    version_id TEXT NOT NULL,
    scene_key  TEXT NOT NULL,
    position   INTEGER NOT NULL CHECK (position >= 0),
    body       TEXT NOT NULL,
    PRIMARY KEY (version_id, scene_key, position),
    FOREIGN KEY (version_id, scene_key) REFERENCES scenes (version_id, key) ON DELETE CASCADE
);

CREATE TABLE choices (
    version_id TEXT NOT NULL,
    scene_key  TEXT NOT NULL,
    key        TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 64 AND key NOT GLOB '*[^a-z0-9_]*'),
    position   INTEGER NOT NULL CHECK (position >= 0),
    sheet_row  INTEGER NOT NULL,
    label      TEXT NOT NULL,
    value      TEXT NOT NULL,
    next_step  TEXT,
    PRIMARY KEY (version_id, scene_key, key),
    UNIQUE (version_id, position),
    FOREIGN KEY (version_id, scene_key) REFERENCES scenes (version_id, key) ON DELETE CASCADE
);

CREATE TABLE channels (
    name       TEXT PRIMARY KEY CHECK (name IN ('staging', 'production')),
    version_id TEXT NOT NULL REFERENCES versions (id),
    updated_at TIMESTAMP NOT NULL,
    updated_by TEXT NOT NULL
);

CREATE TABLE admin_tokens (
    token_hash TEXT PRIMARY KEY CHECK (length(token_hash) = 64 AND token_hash NOT GLOB '*[^0-9a-f]*'),
    name       TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('operator', 'qa', 'admin')),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP
);

CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at   TIMESTAMP NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    version_from TEXT,
    version_to   TEXT,
    note         TEXT
);
CREATE INDEX audit_log_created_at ON audit_log (created_at);
