"""The reports of ``cachekey diff``: every piece keyed with and without ``tuple_return``."""
