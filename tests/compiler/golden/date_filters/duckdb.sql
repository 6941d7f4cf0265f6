SELECT
  CAST(DATE_TRUNC('WEEK', order_items.created_at) AS DATE) AS order_items_created_at_week,
  COUNT(DISTINCT order_items.order_id) AS order_items_order_count
FROM order_items AS order_items
WHERE
  (
    order_items.created_at >= CAST('2025-03-24 00:00:00' AS TIMESTAMP)
    AND order_items.created_at < CAST('2025-06-16 00:00:00' AS TIMESTAMP)
  )
  AND NOT order_items.returned_at IS NULL
GROUP BY
  1
ORDER BY
  order_items_created_at_week DESC
LIMIT 1000
