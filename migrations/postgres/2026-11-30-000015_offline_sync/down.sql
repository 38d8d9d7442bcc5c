ALTER TABLE events DROP COLUMN offline;
DROP TABLE offline_syncs;
