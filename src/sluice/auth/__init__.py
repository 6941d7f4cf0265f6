"""Authentication: organization keys, personal tokens, users, impersonation, rate limits."""
