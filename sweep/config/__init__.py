"""The sweep's config: the typed schema, Hydra composition of ``conf/``, and the fingerprint a resume checks."""
