SELECT
  products.department AS products_department,
  COUNT(*) AS products_count,
  AVG(products.retail_price) AS products_average_retail_price
FROM products AS products
GROUP BY
  1
ORDER BY
  products_count DESC
