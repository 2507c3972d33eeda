"""Where the sweep runs and what a person sees: the Ray connection, the console, Ctrl-C, timings, and
what the driver releases of ended trials. The reaches into Ray's internals are in ``sweep/internals``."""
