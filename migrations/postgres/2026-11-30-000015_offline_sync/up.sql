-- Offline onboarding (README, "Offline onboarding"): each sync an app sent,
-- kept so a retry with the same sync_id gets the same answer; events of runs
-- played offline carry offline = TRUE.
CREATE TABLE offline_syncs (
    user_id        TEXT NOT NULL,
    sync_id        TEXT NOT NULL CHECK (length(sync_id) BETWEEN 1 AND 200),
    request_sha256 TEXT NOT NULL,
    outcome        TEXT NOT NULL CHECK (outcome IN ('accepted', 'online_kept')),
    run_id         TEXT NOT NULL,
    replaced_run   TEXT,
    version_id     TEXT NOT NULL,
    channel        TEXT NOT NULL,
    answered       INTEGER NOT NULL,
    started_at     TIMESTAMP NOT NULL,
    synced_at      TIMESTAMP NOT NULL,
    response       TEXT NOT NULL,
    PRIMARY KEY (user_id, sync_id)
);
CREATE INDEX offline_syncs_synced_at ON offline_syncs (synced_at);

ALTER TABLE events ADD COLUMN offline BOOLEAN NOT NULL DEFAULT FALSE;
