"""vLLM 0.33.0's piecewise compile, rebuilt with torch alone (no vLLM, no cachekey code).

Transcribed from vllm/compilation/: ``VllmBackend.__call__`` and ``split_graph``
(backends.py), ``PiecewiseCompileInterpreter`` (backends.py),
``PiecewiseBackend.compile_all_ranges`` / ``get_fake_args_from_graph``
(piecewise_backend.py), ``CompilerManager.compile`` (backends.py) and
``InductorStandaloneAdaptor.compile`` (compiler_interface.py); the config from
``CompilationConfig.__post_init__`` and ``VllmBackend.configure_post_pass``
(without the PostGradPassManager, which needs vLLM). The model is compiled as
vLLM's decorator does in each cache mode: through ``aot_compile`` in the AOT
modes, through plain ``torch.compile(..., fullgraph=True, dynamic=False)`` otherwise.
"""

from __future__ import annotations

import contextlib
import operator
import os
import shutil
import tempfile
from collections import defaultdict

import torch
import torch.fx
from torch.fx._lazy_graph_module import _use_lazy_graph_module
from torch.fx.passes.split_module import split_module

MODES = {
    # name: (VLLM_USE_AOT_COMPILE, VLLM_USE_MEGA_AOT_ARTIFACT)
    "mega": (True, True),
    "aot-per-piece": (True, False),
    "no-aot": (False, False),
    # vLLM's backend compiles each piece for the mega artifact (aot=True) even where the model
    # is not AOT-compiled: use_mega_artifact takes the decorator's flag, not the variable
    "no-aot-mega": (False, True),
}


def _is_split(node, targets):
    if node is None or node.op != "call_function":
        return False
    t = node.target
    packet = getattr(t, "overloadpacket", None)
    return any(t is s or packet is s for s in targets)


def _node_ids(graph, targets):
    ids, sid, splitting = {}, 0, []
    for node in graph.graph.nodes:
        if node.op in ("output", "placeholder"):
            continue
        if node.op == "call_function" and node.target == operator.getitem:
            if node.args[0].op != "placeholder":
                ids[node] = ids[node.args[0]]
                continue
        if _is_split(node, targets):
            sid += 1
            ids[node] = sid
            splitting.append(sid)
            sid = sid - 1 if _is_split(node.next, targets) else sid + 1
        else:
            ids[node] = sid
    by_id = defaultdict(list)
    for node, i in ids.items():
        by_id[i].append(node)
    prev = None
    for i in range(max(ids.values(), default=-1) + 1):
        nodes = by_id.get(i, [])
        if not nodes:
            continue
        lone_empty = len(nodes) == 1 and nodes[0].op == "call_function" and str(
            getattr(nodes[0].target, "__name__", "")
        ).startswith("empty")
        if lone_empty and prev is not None and all(
            n.op == "placeholder" or ids[n] <= prev for n in nodes[0].all_input_nodes
        ):
            ids[nodes[0]] = prev
        elif i not in splitting:
            prev = i
    return ids, set(splitting)


def _fresh_cache():
    path = tempfile.mkdtemp(prefix="oracle-vllm-")
    return path


def _keys_on_disk(path):
    out = {"aot_key": [], "inductor_key": []}
    aot = os.path.join(path, "aotautograd")
    fx = os.path.join(path, "fxgraph")
    if os.path.isdir(aot):
        out["aot_key"] = sorted(os.listdir(aot))
    if os.path.isdir(fx):
        for prefix in os.listdir(fx):
            out["inductor_key"] += os.listdir(os.path.join(fx, prefix))
    out["inductor_key"].sort()
    return out


def _concrete_args(piece, size):
    """create_concrete_args (piecewise_backend.py): symbols replaced by ``size``."""
    from torch._prims_common import compute_required_storage_length
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import ShapeEnv, is_symbolic

    def concretize(v):
        if not is_symbolic(v):
            return int(v)
        return int(v.node.expr.subs({s: size for s in v.node.expr.free_symbols}))

    mode = FakeTensorMode(shape_env=ShapeEnv())
    args = []
    with mode:
        for node in piece.graph.nodes:
            if node.op != "placeholder":
                break
            val = node.meta["example_value"]
            if isinstance(val, torch.SymInt):
                args.append(concretize(val))
            elif isinstance(val, torch.Tensor):
                shape = tuple(concretize(d) for d in val.shape)
                stride = tuple(concretize(d) for d in val.stride())
                offset = concretize(val.storage_offset())
                t = torch.empty(compute_required_storage_length(shape, stride, offset),
                                dtype=val.dtype, device=val.device)
                args.append(t.as_strided(shape, stride, offset))
            else:
                args.append(val)
    return args, mode


def _compile_piece(piece, mega, size=None):
    from torch._inductor import config as inductor_config

    args = []
    for node in piece.graph.nodes:  # get_fake_args_from_graph
        if node.op != "placeholder":
            break
        args.append(node.meta["example_value"])
    fake_mode = None
    if size is not None:
        args, fake_mode = _concrete_args(piece, size)
    patches = {
        "enable_auto_functionalized_v2": False,
        "_cache_config_ignore_prefix": list(inductor_config._cache_config_ignore_prefix)
        + ["pre_grad_custom_pass"],
    }
    functorch = {"autograd_cache_normalize_inputs": True}
    if not mega:
        functorch["bundled_autograd_cache"] = False
    kwargs = {"dynamic_shapes": "from_graph", "options": {"config_patches": patches},
              "donate_graph_module": True}
    if size is not None:  # set_inductor_config, and the FakeTensorMode patch of the adaptor
        patches["max_autotune"] = os.environ.get("VLLM_ENABLE_INDUCTOR_MAX_AUTOTUNE", "1") == "1"
        patches["coordinate_descent_tuning"] = os.environ.get(
            "VLLM_ENABLE_INDUCTOR_COORDINATE_DESCENT_TUNING", "1") == "1"
        kwargs["dynamic_shapes"] = "from_example_inputs"
        kwargs["fake_mode"] = fake_mode
    if mega:
        kwargs["aot"] = True
    path = _fresh_cache()
    old = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = path
    try:
        with torch._functorch.config.patch(functorch):
            torch._inductor.standalone_compile(piece, args, **kwargs)
        return _keys_on_disk(path)
    finally:
        if old is None:
            os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
        else:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = old
        shutil.rmtree(path, ignore_errors=True)


def piece_keys(module, args, split_targets, *, mode="mega", tuple_return=True, dynamic=(),
               fullgraph=True, size=None):
    """{(graph index, submod name): {"aot_key": [...], "inductor_key": [...]}} as vLLM files them.

    ``fullgraph=False`` (with mode "no-aot") compiles each graph of a model with graph
    breaks the same way; vLLM itself compiles with fullgraph=True and would refuse it.
    ``size`` compiles vLLM's single-size entry for that many tokens instead of the range.
    """
    aot, mega = MODES[mode]
    found = {}
    graphs = []

    def backend(graph, example_inputs):
        index = len(graphs)
        graphs.append(graph)
        ids, splitting = _node_ids(graph, split_targets)
        kwargs = {"keep_original_order": True}
        if tuple_return:
            kwargs["tuple_return"] = True
        with _use_lazy_graph_module(True):
            split_gm = split_module(graph, None, lambda n: ids[n], **kwargs)
        to_compile = [n for n, _ in split_gm.named_children()
                      if int(n.replace("submod_", "")) not in splitting]

        class Interpreter(torch.fx.Interpreter):  # PiecewiseCompileInterpreter
            def call_module(self, target, args, kwargs):
                gm = getattr(self.module, target)
                out = gm.graph.output_node().args[0]
                value = torch.fx.map_arg(out, lambda n: n.meta["example_value"])
                if target in to_compile:
                    found[(index, target)] = _compile_piece(self.fetch_attr(target), mega, size)
                return value

        fakes = [n.meta["example_value"] for n in graph.graph.find_nodes(op="placeholder")]
        fake_args = [fakes[i] if isinstance(t, torch.Tensor) else t
                     for i, t in enumerate(example_inputs)]
        Interpreter(split_gm).run(*fake_args)
        return graph.forward

    torch._dynamo.reset()
    for arg, dim in dynamic:
        torch._dynamo.mark_dynamic(args[arg], dim)
    module.eval()
    try:
        aot_flag = (torch._dynamo.config.patch(enable_aot_compile=True)
                    if aot and hasattr(torch._dynamo.config, "enable_aot_compile")
                    else contextlib.nullcontext())
        with torch.inference_mode():
            with aot_flag:  # vllm/compilation/wrapper.py
                compiled = torch.compile(module.forward, fullgraph=fullgraph, dynamic=False,
                                         backend=backend)
            if aot:
                try:
                    compiled.aot_compile((tuple(args), {}))
                except RuntimeError as exc:
                    # aot_compile wants the backend's result to be serializable (vLLM
                    # returns its VllmSerializableFunction); the pieces are compiled by then
                    if "SerializableCallable" not in str(exc) or not found:
                        raise
            else:
                compiled(*args)
    finally:
        torch._dynamo.reset()
    return found


@contextlib.contextmanager
def environment(mode):
    """The environment variables that select ``mode`` for cachekey's vllm profile."""
    aot, mega = MODES[mode]
    names = {"VLLM_USE_AOT_COMPILE": "1" if aot else "0",
             "VLLM_USE_MEGA_AOT_ARTIFACT": "1" if mega else "0"}
    old = {k: os.environ.get(k) for k in names}
    os.environ.update(names)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
