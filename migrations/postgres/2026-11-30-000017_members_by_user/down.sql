ALTER TABLE analytics_members DROP CONSTRAINT analytics_members_pkey;
ALTER TABLE analytics_members
    ADD PRIMARY KEY (version_id, channel, kind, step_key, variant, user_id);
CREATE INDEX analytics_members_user ON analytics_members (user_id, version_id);
