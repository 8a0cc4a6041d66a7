"""Domain logic of patch runs: outcomes, fleet vocabulary, re-run selection, reports, approvals. Functions here
create no AWS clients: they receive what they use."""
