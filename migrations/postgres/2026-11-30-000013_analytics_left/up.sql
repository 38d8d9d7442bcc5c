-- The funnel's "left" column as an aggregate (README "Analytics at scale"):
-- each in-progress run's current step, folded from the event log (the last
-- `scene_shown` with a step moves it, `completed` and `run_reset` end it),
-- and the number of such runs per version, channel and step.
CREATE TABLE analytics_run_steps (
    run_id     TEXT PRIMARY KEY,
    version_id TEXT NOT NULL,
    channel    TEXT NOT NULL,
    step_key   TEXT NOT NULL
);
CREATE INDEX analytics_run_steps_version ON analytics_run_steps (version_id);

CREATE TABLE analytics_left (
    version_id TEXT NOT NULL,
    channel    TEXT NOT NULL,
    step_key   TEXT NOT NULL,
    runs       BIGINT NOT NULL,
    PRIMARY KEY (version_id, channel, step_key)
);

-- Start from the runs as they are: resets before this migration left no
-- event, so the log alone cannot tell which runs are gone.
INSERT INTO analytics_run_steps (run_id, version_id, channel, step_key)
SELECT id, version_id, channel, step_key FROM runs
WHERE status = 'in_progress' AND step_key IS NOT NULL;

INSERT INTO analytics_left (version_id, channel, step_key, runs)
SELECT version_id, channel, step_key, count(*) FROM analytics_run_steps
GROUP BY version_id, channel, step_key;

-- The funnel no longer reads in-progress runs from `runs`; the index only
-- slowed every run update.
DROP INDEX runs_in_progress_step;

-- A QA reset records `run_reset` (it ends the run's "left").
ALTER TABLE events DROP CONSTRAINT events_kind_check;
ALTER TABLE events ADD CONSTRAINT events_kind_check
    CHECK (kind IN ('scene_shown', 'answered', 'exposure', 'completed', 'run_reset'));
