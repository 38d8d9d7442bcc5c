-- QA approvals, the history of each channel pointer (a stack: publishing
-- pushes, rolling back pops), and dashboard users with their sessions.
CREATE TABLE approvals (
    version_id  TEXT PRIMARY KEY REFERENCES versions (id),
    approved_by TEXT NOT NULL,
    approved_at TIMESTAMP NOT NULL
);

CREATE TABLE channel_history (
    id         BIGSERIAL PRIMARY KEY,
    channel    TEXT NOT NULL CHECK (channel IN ('staging', 'production')),
    version_id TEXT NOT NULL REFERENCES versions (id),
    set_by     TEXT NOT NULL,
    set_at     TIMESTAMP NOT NULL,
    undone_at  TIMESTAMP
);
CREATE INDEX channel_history_channel ON channel_history (channel, id);
INSERT INTO channel_history (channel, version_id, set_by, set_at)
SELECT name, version_id, updated_by, updated_at FROM channels;

CREATE TABLE users (
    name            TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
    role            TEXT NOT NULL CHECK (role IN ('operator', 'qa', 'admin')),
    password_hash   TEXT NOT NULL,
    failed_logins   INTEGER NOT NULL DEFAULT 0,
    last_failure_at TIMESTAMP,
    created_at      TIMESTAMP NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_name  TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
