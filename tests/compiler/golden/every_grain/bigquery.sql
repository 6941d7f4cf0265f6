SELECT
  order_items.created_at AS order_items_created_at_raw,
  CAST(TIMESTAMP_TRUNC(order_items.created_at, DAY) AS DATE) AS order_items_created_at_date,
  CAST(TIMESTAMP_TRUNC(order_items.created_at, ISOWEEK) AS DATE) AS order_items_created_at_week,
  CAST(TIMESTAMP_TRUNC(order_items.created_at, MONTH) AS DATE) AS order_items_created_at_month,
  CAST(TIMESTAMP_TRUNC(order_items.created_at, QUARTER) AS DATE) AS order_items_created_at_quarter,
  CAST(TIMESTAMP_TRUNC(order_items.created_at, YEAR) AS DATE) AS order_items_created_at_year,
  TIMESTAMP_TRUNC(order_items.created_at, HOUR) AS order_items_created_at_hour,
  FORMAT_DATETIME('%A', CAST(order_items.created_at AS DATETIME)) AS order_items_created_at_day_of_week_name,
  FORMAT_DATETIME('%B', CAST(order_items.created_at AS DATETIME)) AS order_items_created_at_month_name,
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
