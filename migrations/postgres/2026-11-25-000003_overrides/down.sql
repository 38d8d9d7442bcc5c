DROP TABLE overrides;
