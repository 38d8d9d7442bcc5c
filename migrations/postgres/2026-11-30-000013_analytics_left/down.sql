CREATE INDEX runs_in_progress_step ON runs (version_id, channel, step_key) WHERE status = 'in_progress';
DROP TABLE analytics_left;
DROP TABLE analytics_run_steps;
DELETE FROM events WHERE kind = 'run_reset';
ALTER TABLE events DROP CONSTRAINT events_kind_check;
ALTER TABLE events ADD CONSTRAINT events_kind_check
    CHECK (kind IN ('scene_shown', 'answered', 'exposure', 'completed'));
