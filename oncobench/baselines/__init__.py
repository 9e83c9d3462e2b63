"""Model registry (later issue)."""
