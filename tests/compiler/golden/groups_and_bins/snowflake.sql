SELECT
  CASE
    WHEN users.age IS NULL
    THEN NULL
    WHEN users.age < 21
    THEN '< 21'
    WHEN users.age < 35
    THEN '>= 21 and < 35'
    WHEN users.age < 50
    THEN '>= 35 and < 50'
    WHEN users.age < 65
    THEN '>= 50 and < 65'
    ELSE '65 and above'
  END AS users_age_bin,
  CASE
    WHEN users.traffic_source IN ('Search', 'Organic')
    THEN 'Unpaid'
    WHEN users.traffic_source IN ('Facebook', 'Display')
    THEN 'Paid'
    ELSE 'Owned'
  END AS users_traffic_group,
  COUNT(*) AS users_count
FROM users AS users
WHERE
  NOT COALESCE(
    CASE
      WHEN users.traffic_source IN ('Search', 'Organic')
      THEN 'Unpaid'
      WHEN users.traffic_source IN ('Facebook', 'Display')
      THEN 'Paid'
      ELSE 'Owned'
    END = 'Paid',
    FALSE
  )
GROUP BY
  1,
  2
ORDER BY
  users_count DESC NULLS LAST
LIMIT 1000
