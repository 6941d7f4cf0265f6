SELECT
  _rows.d0 AS order_items_status,
  COUNT(DISTINCT _rows.v0) AS users_count,
  AVG(CASE WHEN _rows.first_users THEN _rows.v1 END) AS users_average_age,
  PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY
    CASE WHEN _rows.first_users THEN _rows.v1 END NULLS LAST) AS users_median_age
FROM (
  SELECT
    order_items.status AS d0,
    ROW_NUMBER() OVER (PARTITION BY order_items.status, users.id ORDER BY users.id NULLS LAST) = 1 AS first_users,
    users.id AS v0,
    users.age AS v1
  FROM users AS users
  LEFT JOIN order_items AS order_items
    ON order_items.user_id = users.id
) AS _rows
GROUP BY
  1
HAVING
  AVG(CASE WHEN _rows.first_users THEN _rows.v1 END) > 30
ORDER BY
  users_count DESC
LIMIT 1000
