"""Readers of real public formats: one small module per source."""
