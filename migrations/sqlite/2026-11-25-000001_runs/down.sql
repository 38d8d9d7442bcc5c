DROP TABLE events;
DROP TABLE assignments;
DROP TABLE run_answers;
DROP TABLE runs;
DROP TABLE testers;
