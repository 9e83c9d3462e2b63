"""The leaderboard: entries re-scored from prediction files (never self-reported numbers), ranking within
comparable groups, a DuckDB store, the terminal table, the static HTML site and the HTTP API (``oncobench serve``).
"""
