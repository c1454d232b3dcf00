"""The pytest plugin (entry point ``pytest11: cachekey``): compile-cache key baselines as tests.

    def test_keys(cachekey):
        cachekey.check("models/llama.py", baseline="baselines/llama.json")

``--cachekey-update`` writes missing or drifted baselines instead of failing.
Under pytest-xdist (``-n N``) each worker traces the models its tests name, and
each baseline is written by one worker only (session.py). Loading this plugin
imports neither torch nor rich: the first ``check`` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cachekey_cli.pytest_plugin.fixture import WRITTEN, Cachekey, CachekeyWarning
from cachekey_cli.pytest_plugin.session import WORKER_INPUT_KEY, Session

__all__ = ["Cachekey", "CachekeyWarning", "cachekey"]

SESSION = pytest.StashKey[Session]()


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("cachekey", "compile-cache key baselines (cachekey)")
    group.addoption(
        "--cachekey-update",
        action="store_true",
        default=False,
        help="Write missing or drifted cachekey baselines (atomically) instead of failing.",
    )
    group.addoption(
        "--cachekey-width",
        type=int,
        default=None,
        metavar="N",
        help="Width of drift reports (default: as `cachekey check`: the terminal's, 100 in a "
        "pipe).",
    )


def pytest_configure(config: Any) -> None:
    session = Session(
        update=bool(config.getoption("cachekey_update")),
        width=config.getoption("cachekey_width"),
    )
    if session.update:
        shared = getattr(config, "workerinput", {}).get(WORKER_INPUT_KEY)
        if shared:
            session.claims = shared  # an xdist worker: the controller's folder
        else:
            session.make_claims()
    config.stash[SESSION] = session
    config.pluginmanager.register(_Reporter(config, session), "cachekey-reporter")


def pytest_unconfigure(config: Any) -> None:
    session = config.stash.get(SESSION, None)
    if session is not None:
        session.close()


class _Reporter:
    """Hands the claims folder to xdist workers and lists the baselines the run wrote."""

    def __init__(self, config: Any, session: Session) -> None:
        self.config = config
        self.session = session
        self.written: list[tuple[str, str]] = []

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        if self.session.claims:
            node.workerinput[WORKER_INPUT_KEY] = self.session.claims

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.when == "call":
            for name, value in report.user_properties:
                if name == WRITTEN and (value, report.nodeid) not in self.written:
                    self.written.append((value, report.nodeid))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if getattr(self.config, "workerinput", None) is not None or not self.written:
            return
        count = len(self.written)
        terminalreporter.write_sep("-", f"cachekey: wrote {count} baseline{'s' * (count != 1)}")
        for path, nodeid in self.written:
            terminalreporter.write_line(f"{path}  ({nodeid})")


@pytest.fixture
def cachekey(request: Any) -> Cachekey:
    """Check a model's compile-cache keys against a baseline file: ``cachekey.check(...)``."""
    return Cachekey(
        request.node, request.config.stash[SESSION], Path(request.path).parent,
        Path(request.config.rootpath),
    )
