"""JUnit XML for ``--junit-xml``: one test case per subgraph, failures for drift.

Allowed drift passes, with the explanation in ``system-out``. No timestamps or
timings, so the same comparison gives the same bytes.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from cachekey_cli.baseline.snapshot import Snapshot
from cachekey_cli.compare.drift import CheckResult


def classname(s: Snapshot) -> str:
    """``cachekey.model_py.build``: CI viewers split classnames at dots into a package path,
    so the only dots are between "cachekey", the model's name and its factory."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", str(s.model["name"]))
    return f"cachekey.{name}.{s.model['factory']}"


def render(result: Any, **_: Any) -> str:
    assert isinstance(result, CheckResult)
    suite_class = classname(result.current)
    suite = ET.Element(
        "testsuite",
        name="cachekey",
        tests=str(len(result.subgraphs)),
        failures=str(len(result.failing)),
        errors="0",
        skipped=str(sum(1 for s in result.subgraphs if s.status == "not compiled")),
    )
    for s in result.subgraphs:
        case = ET.SubElement(suite, "testcase", classname=suite_class, name=s.id)
        case.set("time", "0")
        text = "\n".join(s.texts())  # the test case's name is the subgraph id
        if s.status == "not compiled":
            ET.SubElement(case, "skipped", message="splitting op: not compiled")
        elif s.drifted and s.status != "allowed":
            failure = ET.SubElement(
                case, "failure", message=f"{s.status}: {', '.join(s.categories)}",
                type=f"cachekey.{s.status}",
            )
            failure.text = text
        elif s.status == "allowed":
            out = ET.SubElement(case, "system-out")
            out.text = f"allowed drift ({', '.join(s.categories)}):\n{text}"
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
