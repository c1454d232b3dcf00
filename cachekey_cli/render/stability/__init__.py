"""The reports of ``cachekey stability``: keys compared across fresh processes."""
