"""Every way to name a model, in one room (model files and modules, hf:, vllm:)."""
