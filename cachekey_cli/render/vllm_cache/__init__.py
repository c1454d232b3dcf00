"""The reports of ``cachekey vllm-cache inspect`` and ``vllm-cache diff``."""
