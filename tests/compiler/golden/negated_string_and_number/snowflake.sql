SELECT
  users.traffic_source AS users_traffic_source,
  AVG(order_items.sale_price) AS order_items_average_sale_price
FROM order_items AS order_items
LEFT JOIN users AS users
  ON order_items.user_id = users.id
WHERE
  NOT COALESCE(users.traffic_source IN ('Email', 'Display'), FALSE)
  AND (
    order_items.sale_price >= 10 AND order_items.sale_price < 250.5
  )
GROUP BY
  1
ORDER BY
  users_traffic_source ASC NULLS FIRST
LIMIT 1000
