"""Independent rebuilds of real clients' compile paths, used as the suite's truth.

Nothing here imports cachekey_cli: each oracle compiles for real into a fresh
Inductor cache directory and reports the keys it finds on disk.
"""
