SELECT
  _rows.d0 AS users_country,
  SUM(CASE WHEN _rows.first_key0 THEN _rows.v0 END) AS order_items_items_in_orders,
  PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY
    _rows.v1) AS order_items_p90_sale_price,
  STRING_AGG(DISTINCT CAST(_rows.v2 AS TEXT), ', ' ORDER BY CAST(_rows.v2 AS TEXT)) AS order_items_statuses
FROM (
  SELECT
    users.country AS d0,
    ROW_NUMBER() OVER (PARTITION BY users.country, order_items.order_id ORDER BY order_items.order_id) = 1 AS first_key0,
    orders.num_of_item AS v0,
    order_items.sale_price AS v1,
    order_items.status AS v2
  FROM order_items AS order_items
  LEFT JOIN users AS users
    ON order_items.user_id = users.id
  LEFT JOIN orders AS orders
    ON order_items.order_id = orders.order_id
) AS _rows
GROUP BY
  1
ORDER BY
  order_items_items_in_orders DESC NULLS LAST
LIMIT 1000
