SELECT
  products.brand AS products_brand,
  SUM(order_items.sale_price) AS order_items_total_sale_price
FROM order_items AS order_items
LEFT JOIN inventory_items AS inventory_items
  ON order_items.inventory_item_id = inventory_items.id
LEFT JOIN products AS products
  ON inventory_items.product_id = products.id
GROUP BY
  1
HAVING
  SUM(order_items.sale_price) >= 1000
ORDER BY
  order_items_total_sale_price DESC
OFFSET 10
LIMIT 50
