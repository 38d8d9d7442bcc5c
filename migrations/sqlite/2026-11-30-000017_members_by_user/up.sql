-- The distinct-user sets keyed by user first (README "Analytics at scale"):
-- one index serves the aggregator's lookups by user and its inserts.
-- SQLite cannot change a primary key in place: the table is copied.
CREATE TABLE analytics_members_by_user (
    user_id    TEXT NOT NULL,
    version_id TEXT NOT NULL,
    channel    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    step_key   TEXT NOT NULL,
    variant    TEXT NOT NULL,
    first_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, version_id, channel, kind, step_key, variant)
);
INSERT INTO analytics_members_by_user
    (user_id, version_id, channel, kind, step_key, variant, first_at)
SELECT user_id, version_id, channel, kind, step_key, variant, first_at
FROM analytics_members
ORDER BY user_id, version_id, channel, kind, step_key, variant;
DROP TABLE analytics_members;
ALTER TABLE analytics_members_by_user RENAME TO analytics_members;
