SELECT
  products.category AS products_category,
  COUNT(*) AS order_items_count
FROM order_items AS order_items
LEFT JOIN users AS users
  ON order_items.user_id = users.id
LEFT JOIN inventory_items AS inventory_items
  ON order_items.inventory_item_id = inventory_items.id
LEFT JOIN products AS products
  ON inventory_items.product_id = products.id
WHERE
  STRFTIME(order_items.created_at, '%A') IN ('Saturday', 'Sunday')
  AND order_items.status IN ('Complete', 'Shipped')
  AND (
    order_items.sale_price >= 10 AND order_items.sale_price < 100
  )
  AND (
    order_items.shipped_at >= CAST('2025-01-01 00:00:00' AS TIMESTAMP)
    AND order_items.shipped_at < CAST('2025-07-01 00:00:00' AS TIMESTAMP)
  )
  AND (
    STRPOS(LOWER(products.name), LOWER('Jean')) > 0
    OR STARTS_WITH(products.name, 'Slim')
  )
  AND NOT COALESCE((
    products.brand IS NULL OR products.brand = ''
  ), FALSE)
  AND users.state IN ('California', 'Texas')
  AND order_items.returned_at IS NULL
  AND (
    (
      NOT order_items.returned_at IS NULL
    ) = FALSE
    OR (
      NOT order_items.returned_at IS NULL
    ) IS NULL
  )
GROUP BY
  1
ORDER BY
  order_items_count DESC
LIMIT 1000
