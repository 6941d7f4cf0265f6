SELECT
  CAST(DATE_TRUNC('MONTH', order_items.created_at) AS DATE) AS order_items_created_at_month,
  SUM(order_items.sale_price) AS order_items_total_sale_price
FROM order_items AS order_items
GROUP BY
  1
ORDER BY
  order_items_created_at_month DESC NULLS LAST
LIMIT 1000
