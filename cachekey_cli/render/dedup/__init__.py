"""The reports of ``cachekey dedup`` (the rich and markdown sections also appear in ``diff``)."""
