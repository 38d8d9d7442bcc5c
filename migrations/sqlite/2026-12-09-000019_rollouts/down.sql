DROP INDEX runs_channel_started;
DROP TABLE incidents;
DROP TABLE rollouts;
