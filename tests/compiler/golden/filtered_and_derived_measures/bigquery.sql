SELECT
  order_items.status AS order_items_status,
  COUNT(CASE WHEN order_items.status = 'Returned' THEN 1 END) AS order_items_returned_count,
  COUNT(CASE WHEN order_items.status IN ('Complete', 'Shipped') THEN 1 END) AS order_items_complete_count,
  (
    SUM(order_items.sale_price - inventory_items.cost) / NULLIF(SUM(order_items.sale_price), 0)
  ) AS order_items_gross_margin_percent,
  (
    COUNT(CASE WHEN order_items.status = 'Returned' THEN 1 END) / NULLIF(COUNT(*), 0)
  ) AS order_items_return_rate
FROM order_items AS order_items
LEFT JOIN inventory_items AS inventory_items
  ON order_items.inventory_item_id = inventory_items.id
GROUP BY
  1
ORDER BY
  order_items_returned_count DESC
LIMIT 1000
