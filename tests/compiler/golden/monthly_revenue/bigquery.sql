SELECT
  CAST(TIMESTAMP_TRUNC(order_items.created_at, MONTH) AS DATE) AS order_items_created_at_month,
  SUM(order_items.sale_price) AS order_items_total_sale_price
FROM order_items AS order_items
GROUP BY
  1
ORDER BY
  order_items_created_at_month DESC
LIMIT 1000
