SELECT
  CAST(DATE_TRUNC(
    'DAY',
    CAST(order_items.created_at AS TIMESTAMP) AT TIME ZONE 'UTC' AT TIME ZONE 'America/New_York'
  ) AS DATE) AS order_items_created_at_date,
  COUNT(*) AS order_items_count
FROM order_items AS order_items
WHERE
  (
    (
      CAST(order_items.created_at AS TIMESTAMP) AT TIME ZONE 'UTC' AT TIME ZONE 'America/New_York'
    ) >= CAST('2025-06-14 00:00:00' AS TIMESTAMP)
    AND (
      CAST(order_items.created_at AS TIMESTAMP) AT TIME ZONE 'UTC' AT TIME ZONE 'America/New_York'
    ) < CAST('2025-06-15 00:00:00' AS TIMESTAMP)
  )
GROUP BY
  1
ORDER BY
  order_items_created_at_date DESC
LIMIT 1000
