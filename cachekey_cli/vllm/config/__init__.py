"""The deployment's ``VllmConfig``, built with vLLM's own classes where vLLM is installed.

``from_serve`` builds it from ``vllm serve``'s command line (a ``vllm:`` model's
serve arguments, as the API server parses them), ``from_file`` from a
``--vllm-config`` JSON file of its fields. Both import vLLM only inside their
functions, reached through the installed profile (``compile/installed.py``).
"""
