"""Where the sweep runs and what a person sees: Ray connection, console, Ctrl-C, timings, Ray internals."""
