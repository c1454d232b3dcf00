"""What cachekey knows about vLLM, in one room: a folder per stage of vLLM's compile cache.

- ``releases`` (what each vLLM release does with its cache, one row per release: every
  stage asks it) and ``records`` (the frozen records of a cache: folders, factors,
  artifacts, AOT-compiled models);
- ``config/``: the deployment's ``VllmConfig``, from ``vllm serve``'s arguments
  (``from_serve``) or a ``--vllm-config`` file (``from_file``);
- ``models``: vLLM's own model classes, built as a server builds them (``vllm:`` models);
- ``compile/``: the ``vllm`` profile, vLLM's piecewise compile path (on the torch side, or
  through the installed vLLM), with ``probe`` telling whether vLLM is importable;
- ``identity/``: what names a deployment's cache folder (its factors, vLLM's code factor of
  the current code);
- ``layout/``: reading a cache's folders, index, artifacts and AOT-compiled models;
- ``cache_diff/``: ``vllm-cache diff``, two deployments compared, with the pitfalls;
- ``warm_start/``: ``check --cache`` on a vLLM cache, vLLM's warm start mirrored piece by piece.

Only ``probe``, ``models``, ``config/`` and ``compile/live`` import ``vllm``, and only
inside their functions, once the ``vllm`` profile found vLLM installed. Nothing here
imports torch at module level: ``compile/``, ``models`` and ``identity/model_factor``
import it inside their functions, and ``releases``, ``records``, ``layout/``,
``identity/`` (but ``model_factor``, for ``--model``), ``cache_diff/`` and
``warm_start/`` never do, so ``vllm-cache`` and ``explain`` stay torch-free and
vLLM-free.
"""
