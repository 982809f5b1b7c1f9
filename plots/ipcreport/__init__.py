"""ipcreport: the report program behind plots/report.py (load, model, stats, verdicts,
pictures, markdown)."""
