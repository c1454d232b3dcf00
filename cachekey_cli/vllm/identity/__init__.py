"""What names a deployment's cache folder, per vLLM release, and whether the code still does.

Torch-free except ``model_factor``. ``factors`` reads ``cache_key_factors.json``
(both layouts) and recomputes the folder's name, ``code_factor`` is vLLM's code
factor of the files Dynamo traced (each release's recipe), ``code_check``
compares the current code with what a folder and its AOT-compiled model
recorded, and ``model_factor`` traces a model for ``vllm-cache --model`` (the one
module that imports torch). Where vLLM is installed, ``compile/live`` takes the
same factors from vLLM's own functions.
"""
