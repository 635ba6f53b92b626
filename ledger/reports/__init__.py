"""Reports: read models over the reporting projection (ledger/projections/reports.py)."""
