"""The statistics of a sweep, pure (numpy and scipy only): paired differences, the binomial noise
floor of an accuracy, and the sequential plan's looks and boundaries. The race, the verdict, the
ranking and the rungs call these; none of them computes a statistic of its own."""
