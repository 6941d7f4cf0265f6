SELECT
  DATE_TRUNC('MINUTE', order_items.created_at) AS order_items_created_at_minute,
  DATE_PART(MONTH, order_items.created_at) AS order_items_created_at_month_num,
  DATE_PART(QUARTER, order_items.created_at) AS order_items_created_at_quarter_of_year,
  DATE_PART(WEEK, order_items.created_at) AS order_items_created_at_week_of_year,
  (
    DAYOFWEEKISO(order_items.created_at) + 6
  ) % 7 AS order_items_created_at_day_of_week_num,
  DATE_PART(DAY, order_items.created_at) AS order_items_created_at_day_of_month,
  DATE_PART(DAYOFYEAR, order_items.created_at) AS order_items_created_at_day_of_year,
  DATEDIFF(
    DAY,
    CAST(DATE_TRUNC('QUARTER', order_items.created_at) AS DATE),
    CAST(order_items.created_at AS DATE)
  ) + 1 AS order_items_created_at_day_of_quarter,
  DATE_PART(HOUR, order_items.created_at) AS order_items_created_at_hour_of_day,
  DATE_PART(YEAR, order_items.created_at) AS order_items_created_at_fiscal_year,
  CONCAT(
    CAST(DATE_PART(YEAR, order_items.created_at) AS VARCHAR),
    '-Q',
    CAST(DATE_PART(QUARTER, order_items.created_at) AS VARCHAR)
  ) AS order_items_created_at_fiscal_quarter,
  EXTRACT(epoch_second FROM order_items.created_at) AS order_items_created_at_epoch,
  TO_CHAR(order_items.created_at, 'hh24:mi') AS order_items_created_at_time_of_day,
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
  order_items_created_at_minute DESC NULLS LAST
LIMIT 5
