SELECT
  events.browser AS events_browser,
  users.country AS users_country,
  COUNT(*) AS events_count,
  COUNT(DISTINCT events.user_id) AS events_unique_visitors
FROM events AS events
LEFT JOIN users AS users
  ON events.user_id = users.id
GROUP BY
  1,
  2
ORDER BY
  events_count DESC NULLS LAST
LIMIT 10
