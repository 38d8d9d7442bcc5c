DELETE FROM analytics_counts WHERE kind = 'went_back';
DELETE FROM analytics_members WHERE kind = 'went_back';
