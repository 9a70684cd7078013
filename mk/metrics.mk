# The status endpoint's /metrics: promtool (in Debian's prometheus) checks
# its output and a scrape config in the integration tests (test_ops.py).
DEBS		+= prometheus
