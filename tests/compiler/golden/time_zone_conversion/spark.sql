SELECT
  CAST(DATE_TRUNC(
    'DAY',
    CAST(FROM_UTC_TIMESTAMP(order_items.created_at, 'America/New_York') AS TIMESTAMP_NTZ)
  ) AS DATE) AS order_items_created_at_date,
  COUNT(*) AS order_items_count
FROM order_items AS order_items
WHERE
  (
    CAST(FROM_UTC_TIMESTAMP(order_items.created_at, 'America/New_York') AS TIMESTAMP_NTZ) >= CAST('2025-06-14 00:00:00' AS TIMESTAMP)
    AND CAST(FROM_UTC_TIMESTAMP(order_items.created_at, 'America/New_York') AS TIMESTAMP_NTZ) < CAST('2025-06-15 00:00:00' AS TIMESTAMP)
  )
GROUP BY
  1
ORDER BY
  order_items_created_at_date DESC
LIMIT 1000
