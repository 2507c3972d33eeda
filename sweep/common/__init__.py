"""Helpers that several stages of the driver share: a config's label, a trial's end state, a quieted
library logger, the launcher's own output line. A leaf: it imports nothing of ``sweep`` outside
itself, so every stage may import it without drawing a circle between packages."""
