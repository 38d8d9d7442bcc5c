-- The funnel's "left" column as an aggregate (README "Analytics at scale"):
-- each run's current step (NULL once ended), folded from the event log (the
-- last `scene_shown` with a step moves it, `completed` and `run_reset` end
-- it; `last_id` is that event, so an older event folded later, by a rebuild
-- of one version, changes nothing), and the number of runs in progress per
-- version, channel and step.
CREATE TABLE analytics_run_steps (
    run_id     TEXT PRIMARY KEY,
    version_id TEXT NOT NULL,
    channel    TEXT NOT NULL,
    step_key   TEXT,
    last_id    BIGINT NOT NULL
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
INSERT INTO analytics_run_steps (run_id, version_id, channel, step_key, last_id)
SELECT id, version_id, channel, step_key, 0 FROM runs
WHERE status = 'in_progress' AND step_key IS NOT NULL;

INSERT INTO analytics_left (version_id, channel, step_key, runs)
SELECT version_id, channel, step_key, count(*) FROM analytics_run_steps
WHERE step_key IS NOT NULL GROUP BY version_id, channel, step_key;

-- The funnel no longer reads in-progress runs from `runs`; the index only
-- slowed every run update.
DROP INDEX runs_in_progress_step;

-- A QA reset records `run_reset` (it ends the run's "left").
ALTER TABLE events DROP CONSTRAINT events_kind_check;
ALTER TABLE events ADD CONSTRAINT events_kind_check
    CHECK (kind IN ('scene_shown', 'answered', 'exposure', 'completed', 'run_reset'));
