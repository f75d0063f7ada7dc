"""The report of a run: plots (PNG), a self-contained HTML page and summary.json."""
