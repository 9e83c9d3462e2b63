"""The benchmark: tasks (dataset + target + split protocol), the evaluator and its metrics, jobs and the runner
(local or Ray) with MLflow tracking, results tables and explanations of deep models on a task's folds.

Sits above ``oncobench.datasets`` and ``oncobench.baselines``: it reads their data and models, never the other
way round.
"""
