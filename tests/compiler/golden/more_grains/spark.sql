SELECT
  CAST(DATE_TRUNC('MINUTE', order_items.created_at) AS TIMESTAMP_NTZ) AS order_items_created_at_minute,
  EXTRACT(MONTH FROM order_items.created_at) AS order_items_created_at_month_num,
  EXTRACT(QUARTER FROM order_items.created_at) AS order_items_created_at_quarter_of_year,
  EXTRACT(WEEK FROM order_items.created_at) AS order_items_created_at_week_of_year,
  (
    WEEKDAY(order_items.created_at) + 1 + 6
  ) % 7 AS order_items_created_at_day_of_week_num,
  EXTRACT(DAY FROM order_items.created_at) AS order_items_created_at_day_of_month,
  EXTRACT(DOY FROM order_items.created_at) AS order_items_created_at_day_of_year,
  DATEDIFF(
    DAY,
    CAST(TRUNC(order_items.created_at, 'QUARTER') AS DATE),
    CAST(order_items.created_at AS DATE)
  ) + 1 AS order_items_created_at_day_of_quarter,
  EXTRACT(HOUR FROM order_items.created_at) AS order_items_created_at_hour_of_day,
  EXTRACT(YEAR FROM order_items.created_at) AS order_items_created_at_fiscal_year,
  CONCAT(
    CAST(EXTRACT(YEAR FROM order_items.created_at) AS STRING),
    '-Q',
    CAST(EXTRACT(QUARTER FROM order_items.created_at) AS STRING)
  ) AS order_items_created_at_fiscal_quarter,
  UNIX_TIMESTAMP(order_items.created_at) AS order_items_created_at_epoch,
  DATE_FORMAT(order_items.created_at, 'HH:mm') AS order_items_created_at_time_of_day,
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
  9,
  10,
  11,
  12,
  13
ORDER BY
  order_items_created_at_minute DESC
LIMIT 5
