"""Operations: Prometheus metrics and structured logs with request ids.

A leaf package (it imports nothing else of sluice), so the job service, the cache and the API can
all report into it.
"""
