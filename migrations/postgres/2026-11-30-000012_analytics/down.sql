DROP INDEX runs_in_progress_step;
DROP TABLE analytics_durations;
DROP TABLE analytics_runs;
DROP TABLE analytics_counts;
DROP TABLE analytics_members;
DROP TABLE analytics_cursors;
