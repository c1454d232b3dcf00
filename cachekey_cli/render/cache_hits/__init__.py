"""The reports of ``cachekey check --cache``: will a real cache hit, piece by piece."""
