SELECT
  order_items.created_at AS order_items_created_at_raw,
  CAST(DATE_TRUNC('DAY', order_items.created_at) AS DATE) AS order_items_created_at_date,
  CAST(DATE_TRUNC('WEEK', order_items.created_at) AS DATE) AS order_items_created_at_week,
  CAST(DATE_TRUNC('MONTH', order_items.created_at) AS DATE) AS order_items_created_at_month,
  CAST(DATE_TRUNC('QUARTER', order_items.created_at) AS DATE) AS order_items_created_at_quarter,
  CAST(DATE_TRUNC('YEAR', order_items.created_at) AS DATE) AS order_items_created_at_year,
  CAST(DATE_TRUNC('HOUR', order_items.created_at) AS TIMESTAMP_NTZ) AS order_items_created_at_hour,
  DATE_FORMAT(order_items.created_at, 'EEEE') AS order_items_created_at_day_of_week_name,
  DATE_FORMAT(order_items.created_at, 'MMMM') AS order_items_created_at_month_name,
  COUNT(*) AS order_items_count
FROM order_items AS order_items
GROUP BY
  1,
  2,
  3,
  4,
  5,
  6,
  7,
  8,
  9
ORDER BY
  order_items_created_at_raw DESC
LIMIT 5
