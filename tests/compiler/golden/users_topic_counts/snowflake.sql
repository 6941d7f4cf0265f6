SELECT
  users.gender AS users_gender,
  COUNT(*) AS users_count,
  AVG(users.age) AS users_average_age,
  COUNT(CASE WHEN users.gender = 'F' THEN 1 END) AS users_count_female
FROM users AS users
GROUP BY
  1
ORDER BY
  users_count DESC NULLS LAST
LIMIT 1000
