"""Load the model inside its profile's session; settle split ops, dynamic dims, sizes.

The first stage of every analysis (``pipeline.run``) and of ``--verify``. The
model comes from its source (``cachekey_cli/sources``, called once), with a
``profiles.Session`` hung on the loading: the source names the deployment
first, for which the profile is chosen, and the profile's session is entered
before the model's factory runs; it lasts until the caller's ``ExitStack``
closes, after the capture and the keys.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any


@dataclass
class Prepared:
    """The model loaded under the profile's session, and what the profile makes of it."""

    profile: Any
    model: Any
    names: tuple[str, ...]  # splitting ops asked for
    origin: str  # where they come from
    ops: tuple[Any, ...]  # resolved (empty when the profile does not split)
    dims: tuple[Any, ...]  # dynamic dims to mark
    compile_sizes: tuple[int, ...]


def prepare(options: Any, stack: contextlib.ExitStack[Any], loaded: Any = None) -> Prepared:
    """Load the model inside the profile's session (entered on ``stack``, so it lasts
    through the capture), then settle the split ops, dynamic dims and compile sizes.

    A model file's factory runs inside the session; a model built already
    (``loaded``, the Python API's objects) or by cachekey (``hf:``) gets the
    session once it is there.
    """
    from cachekey_cli import sources
    from cachekey_cli.analysis import dynamic_dims, split_ops
    from cachekey_cli.analysis.profiles.session import Session

    session = Session(options, stack)
    model = sources.load_under(options, session, loaded)
    if not session.entered:
        session.before_factory(model.split_ops)
    profile = session.profile
    chosen = profile.split_ops()
    if chosen is None:
        names, origin = split_ops.asked(options.split_ops, model.split_ops)
        ops = split_ops.resolve_asked(names, origin) if profile.splits else ()
    else:
        names, origin, ops = chosen
    profile.model_built(model.module)
    if model.built_as or model.built_differs:
        profile.built_as(model.built_as, model.built_differs)
    dims = dynamic_dims.resolve(options.dynamic_dims, model, profile)
    return Prepared(profile, model, names, origin, ops, dims,
                    profile.compile_sizes(options.compile_sizes))
