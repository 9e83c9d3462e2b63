"""Tasks, evaluator, runner (later issue)."""
