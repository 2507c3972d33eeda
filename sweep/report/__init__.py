"""The answer: ranking, the verdict, the Pareto front, plots, the summary table, the article. The
statistics they rest on are in ``sweep/stats``."""
