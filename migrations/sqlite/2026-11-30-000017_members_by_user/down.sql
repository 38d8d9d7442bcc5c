CREATE TABLE analytics_members_by_version (
    version_id TEXT NOT NULL,
    channel    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    step_key   TEXT NOT NULL,
    variant    TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    first_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (version_id, channel, kind, step_key, variant, user_id)
);
INSERT INTO analytics_members_by_version
    (version_id, channel, kind, step_key, variant, user_id, first_at)
SELECT version_id, channel, kind, step_key, variant, user_id, first_at
FROM analytics_members;
DROP TABLE analytics_members;
ALTER TABLE analytics_members_by_version RENAME TO analytics_members;
CREATE INDEX analytics_members_user ON analytics_members (user_id, version_id);
