"""The confirmation phase: fresh paired seeds in rounds, and the sequential plan that decides when to stop."""
