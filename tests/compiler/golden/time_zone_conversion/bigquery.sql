SELECT
  CAST(TIMESTAMP_TRUNC(
    DATETIME(TIMESTAMP(CAST(order_items.created_at AS DATETIME), 'UTC'), 'America/New_York'),
    DAY
  ) AS DATE) AS order_items_created_at_date,
  COUNT(*) AS order_items_count
FROM order_items AS order_items
WHERE
  (
    DATETIME(TIMESTAMP(CAST(order_items.created_at AS DATETIME), 'UTC'), 'America/New_York') >= CAST('2025-06-14 00:00:00' AS DATETIME)
    AND DATETIME(TIMESTAMP(CAST(order_items.created_at AS DATETIME), 'UTC'), 'America/New_York') < CAST('2025-06-15 00:00:00' AS DATETIME)
  )
GROUP BY
  1
ORDER BY
  order_items_created_at_date DESC
LIMIT 1000
