DROP TABLE run_backs;
ALTER TABLE runs DROP COLUMN previous_answer;
ALTER TABLE scenes DROP COLUMN back_allowed;
DROP TABLE translations;
-- The went_back events stay: SQLite would need another copy of the table to
-- narrow the CHECK again, and the events are history.
