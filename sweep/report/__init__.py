"""The answer: ranking, paired statistics, the verdict, the Pareto front, plots, the summary table, the article."""
