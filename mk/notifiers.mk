# The pagerduty, alertmanager and slack notifiers: their integration tests
# run a real Alertmanager (amtool, in the same package, cross-checks it).
DEBS += prometheus-alertmanager
