"""The licence policy checker (packaging/licenses.py) on fake installed metadata: copyleft in
the runtime closure fails, allow-listed LGPL and dev-only copyleft pass, THIRD_PARTY_LICENSES
holds every runtime package's licence text."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("licenses", ROOT / "packaging" / "licenses.py")
assert _spec is not None and _spec.loader is not None
licenses: Any = importlib.util.module_from_spec(_spec)
sys.modules["licenses"] = licenses  # dataclasses look their module up
_spec.loader.exec_module(licenses)


def fake_dist(site: Path, name: str, *, expr: str = "", classifiers: tuple[str, ...] = (),
              requires: tuple[str, ...] = (), licence_text: str = "") -> None:
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    lines = ["Metadata-Version: 2.4", f"Name: {name}", "Version: 1.0"]
    lines += [f"License-Expression: {expr}"] if expr else []
    lines += [f"Classifier: {c}" for c in classifiers]
    lines += [f"Requires-Dist: {r}" for r in requires]
    (info / "METADATA").write_text("\n".join(lines) + "\n")
    record = [f"{info.name}/METADATA,,"]
    if licence_text:
        (info / "licenses").mkdir()
        (info / "licenses" / "LICENSE").write_text(licence_text)
        record.append(f"{info.name}/licenses/LICENSE,,")
    (info / "RECORD").write_text("\n".join(record) + "\n")


def site_with(tmp_path: Path, *extra_requires: str, **extra: Any) -> dict[str, Any]:
    site = tmp_path / "site"
    fake_dist(site, "oncoboard", expr="Apache-2.0",
              requires=("numpy>=1", "pyside6-essentials", 'pytest ; extra == "test"',
                        'winthing ; sys_platform == "win32"', *extra_requires))
    fake_dist(site, "numpy", expr="BSD-3-Clause AND MIT", licence_text="numpy licence text")
    fake_dist(site, "pyside6-essentials", expr="LGPL-3.0-only OR GPL-2.0-only OR GPL-3.0-only",
              requires=("shiboken6",))
    fake_dist(site, "shiboken6", expr="LGPL-3.0-only OR GPL-3.0-only")
    fake_dist(site, "pytest", classifiers=("License :: OSI Approved :: GNU General Public "
                                           "License v3 (GPLv3)",))  # dev-only: not shipped
    for name, kw in extra.items():
        fake_dist(site, name.replace("_", "-"), **kw)
    return licenses.installed([str(site)])


def verdicts(dists: dict[str, Any]) -> dict[str, bool]:
    return {p.name: p.allowed for p in licenses.judge(dists)}


def test_permissive_and_allow_listed_lgpl_pass(tmp_path: Path) -> None:
    result = verdicts(site_with(tmp_path))
    assert result == {"numpy": True, "pyside6-essentials": True, "shiboken6": True}


def test_gpl_in_the_runtime_closure_fails(tmp_path: Path) -> None:
    dists = site_with(tmp_path, "jpegthing", jpegthing={
        "classifiers": ("License :: OSI Approved :: GNU General Public License v3 (GPLv3)",
                        "License :: Other/Proprietary License")})
    assert verdicts(dists)["jpegthing"] is False


def test_gpl_deep_in_the_closure_fails(tmp_path: Path) -> None:
    dists = site_with(tmp_path, "wrapper", wrapper={"expr": "MIT", "requires": ("agpl-lib",)},
                      agpl_lib={"expr": "AGPL-3.0-or-later"})
    assert verdicts(dists)["agpl-lib"] is False


def test_lgpl_not_allow_listed_fails(tmp_path: Path) -> None:
    dists = site_with(tmp_path, "static-lgpl", static_lgpl={"expr": "LGPL-2.1-or-later"})
    assert verdicts(dists)["static-lgpl"] is False


def test_unknown_licence_fails(tmp_path: Path) -> None:
    dists = site_with(tmp_path, "mystery", mystery={})
    assert verdicts(dists)["mystery"] is False


@pytest.mark.parametrize(("expr", "verdict"), [
    ("MIT", "permissive"), ("Apache-2.0 OR BSD-3-Clause", "permissive"),
    ("GPL-2.0-only OR MIT", "permissive"), ("MIT AND GPL-3.0-only", "copyleft"),
    ("LGPL-3.0-only OR GPL-2.0-only", "lgpl"), ("MPL-2.0", "mpl"),
    ("GPL-3.0-or-later WITH GCC-exception-3.1", "copyleft"), ("AGPL-3.0", "copyleft"),
    ("(BSD-3-Clause AND 0BSD) AND MIT", "permissive"), ("Proprietary", "unknown"),
])
def test_expressions(expr: str, verdict: str) -> None:
    assert licenses.classify_expression(expr) == verdict


def test_check_exit_status_and_notice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    good = site_with(tmp_path)
    bad = site_with(tmp_path / "b", "gplpkg", gplpkg={"expr": "GPL-3.0-only"})
    monkeypatch.setattr(licenses, "installed", lambda paths=None: good)
    assert licenses.main(["check"]) == 0
    out = tmp_path / "THIRD_PARTY_LICENSES"
    assert licenses.main(["notice", str(out)]) == 0
    text = out.read_text()
    assert "numpy licence text" in text and "shiboken6 1.0" in text and "pytest" not in text

    monkeypatch.setattr(licenses, "installed", lambda paths=None: bad)
    assert licenses.main(["check"]) == 1
    assert "gplpkg" in capsys.readouterr().err
