DROP INDEX runs_channel_started;
DROP TABLE incidents;
DROP TABLE rollouts;
ALTER TABLE events DROP CONSTRAINT events_kind_check;
ALTER TABLE events ADD CONSTRAINT events_kind_check
    CHECK (kind IN ('scene_shown', 'answered', 'exposure', 'completed', 'run_reset', 'went_back'));
