DROP TABLE run_backs;
ALTER TABLE runs DROP COLUMN previous_answer;
ALTER TABLE scenes DROP COLUMN back_allowed;
DROP TABLE translations;
DELETE FROM events WHERE kind = 'went_back';
ALTER TABLE events DROP CONSTRAINT events_kind_check;
ALTER TABLE events ADD CONSTRAINT events_kind_check
    CHECK (kind IN ('scene_shown', 'answered', 'exposure', 'completed', 'run_reset'));
