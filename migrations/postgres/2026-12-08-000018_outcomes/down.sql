DROP TABLE analytics_metric_daily;
DROP TABLE analytics_metric_stats;
DROP TABLE analytics_metric_values;
DROP TABLE metrics;
DROP TABLE outcomes;
DELETE FROM admin_tokens WHERE role = 'ingest';
