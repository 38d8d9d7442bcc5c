-- The funnel's "came back" column (README "Going back"): distinct users per
-- version, channel and step who went back to that step, kept like the other
-- per-step sets (kind `went_back`). `went_back` events the aggregator folded
-- before it counted them are counted here; later ones are its job.
INSERT INTO analytics_members (version_id, channel, kind, step_key, variant, user_id, first_at)
SELECT version_id, channel, 'went_back', step_key, '', user_id, min(occurred_at)
FROM events
WHERE kind = 'went_back' AND step_key IS NOT NULL
  AND id <= (SELECT last_id FROM analytics_cursors WHERE name = 'aggregates')
GROUP BY version_id, channel, step_key, user_id;

INSERT INTO analytics_counts (version_id, channel, kind, step_key, variant, users, first_at, last_at)
SELECT version_id, channel, 'went_back', step_key, '', count(DISTINCT user_id),
       min(occurred_at), max(occurred_at)
FROM events
WHERE kind = 'went_back' AND step_key IS NOT NULL
  AND id <= (SELECT last_id FROM analytics_cursors WHERE name = 'aggregates')
GROUP BY version_id, channel, step_key;
