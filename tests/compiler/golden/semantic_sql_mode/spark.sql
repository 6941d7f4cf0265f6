SELECT
  users.state AS `users.state`,
  SUM(order_items.sale_price) AS revenue
FROM order_items AS order_items
LEFT JOIN users AS users
  ON order_items.user_id = users.id
LEFT JOIN inventory_items AS inventory_items
  ON order_items.inventory_item_id = inventory_items.id
LEFT JOIN products AS products
  ON inventory_items.product_id = products.id
WHERE
  products.department = 'Men'
GROUP BY
  1
ORDER BY
  2 DESC
