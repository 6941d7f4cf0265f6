SELECT
  CAST(DATE_TRUNC('DAY', CONVERT_TIMEZONE('UTC', 'America/New_York', order_items.created_at)) AS DATE) AS order_items_created_at_date,
  COUNT(*) AS order_items_count
FROM order_items AS order_items
WHERE
  (
    CONVERT_TIMEZONE('UTC', 'America/New_York', order_items.created_at) >= CAST('2025-06-14 00:00:00' AS TIMESTAMP)
    AND CONVERT_TIMEZONE('UTC', 'America/New_York', order_items.created_at) < CAST('2025-06-15 00:00:00' AS TIMESTAMP)
  )
GROUP BY
  1
ORDER BY
  order_items_created_at_date DESC NULLS LAST
LIMIT 1000
