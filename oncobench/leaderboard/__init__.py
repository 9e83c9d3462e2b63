"""Leaderboard (later issue)."""
