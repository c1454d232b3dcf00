"""``check --cache`` on a vLLM cache: vLLM's warm start mirrored, piece by piece.

Torch-free, on top of ``cachekey_cli/cache_hits/`` (its records, the baked
snapshot, Inductor's own lookups). ``lookup`` is the way in: which folder the
deployment uses (``folder_choice``), whether its AOT-compiled model loads
(``aot_load``), what each piece gets, the model or the index entry and artifact
at its position (``loads``), the pieces vLLM serves from memory (``reuse``), and
under a vLLM miss what Inductor's own cache still serves (``fallback``).
"""

from __future__ import annotations

from cachekey_cli.vllm.warm_start.lookup import check, model_code, read

__all__ = ["check", "model_code", "read"]
