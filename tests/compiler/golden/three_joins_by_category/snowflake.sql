SELECT
  distribution_centers.name AS distribution_centers_name,
  products.category AS products_category,
  COUNT(*) AS order_items_count,
  SUM(order_items.sale_price) AS order_items_total_sale_price
FROM order_items AS order_items
LEFT JOIN users AS users
  ON order_items.user_id = users.id
LEFT JOIN inventory_items AS inventory_items
  ON order_items.inventory_item_id = inventory_items.id
LEFT JOIN products AS products
  ON inventory_items.product_id = products.id
LEFT JOIN distribution_centers AS distribution_centers
  ON products.distribution_center_id = distribution_centers.id
WHERE
  users.country = 'Brasil'
GROUP BY
  1,
  2
ORDER BY
  order_items_total_sale_price DESC NULLS LAST
LIMIT 20
