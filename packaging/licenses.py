"""Licences of the packages Oncoboard ships: check the policy, write THIRD_PARTY_LICENSES.

Run with the Python of the environment the bundle is built from (or the test environment)::

    .venv-build/bin/python packaging/licenses.py check          # exit 1 on a policy breach
    .venv-build/bin/python packaging/licenses.py notice OUT     # all licence texts into OUT
    .venv-build/bin/python packaging/licenses.py list           # name, version, licence, verdict

The runtime closure is what the installed `oncoboard` distribution requires, recursively (extras
such as test or models are not followed; environment markers are evaluated here): exactly what
the bundle can contain. The policy (README, "Builds and licences"):

- permissive licences (MIT, BSD, Apache-2.0, ISC, PSF, Zlib, HPND, MIT-CMU, public domain, ...)
  and MPL-2.0 (file-level copyleft, shipped unmodified) are allowed;
- LGPL is allowed only for the packages in LGPL_DYNAMIC: libraries loaded as separate shared
  libraries that a user can replace (PySide6 / shiboken6: Qt for Python), shipped unmodified;
- GPL, AGPL and any other copyleft licence fail, as does a licence this script cannot read,
  unless a person has reviewed the package and recorded it in REVIEWED.
A licence expression with OR is judged by its most permissive choice, one with AND (or a
package listing several licence classifiers as alternatives) accordingly.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ROOT_DIST = "oncoboard"

#: LGPL packages allowed in the bundle: dynamically linked shared libraries, shipped unmodified,
#: that the user may replace in the installed folder (LGPL-3.0 section 4).
LGPL_DYNAMIC = {
    "pyside6-essentials": "Qt for Python: Qt's shared libraries, loaded at run time",
    "shiboken6": "Qt for Python's binding runtime, a shared library loaded at run time",
    # the PostgreSQL client (a site database): Python modules and a C extension (with libpq,
    # PostgreSQL licence) imported at run time, shipped unmodified and replaceable in place
    "psycopg": "PostgreSQL client, Python modules imported at run time",
    "psycopg-binary": "psycopg's C extension and libpq, shared libraries loaded at run time",
}

#: Packages whose metadata does not name a licence that this script can read, with the licence
#: a person found in the package (and where). Keyed by normalised name.
REVIEWED: dict[str, str] = {}

PERMISSIVE = re.compile(
    r"\b(MIT|BSD|0BSD|Apache|ISC|PSF|Python Software Foundation|Zlib|HPND|CMU|Unlicense|CC0|"
    r"Public Domain|Historical Permission|MIT-0|BSL-1\.0|Boost|UPL|X11|W3C|NCSA|OFL)\b",
    re.IGNORECASE)
WEAK_FILE = re.compile(r"\b(MPL|Mozilla Public License)", re.IGNORECASE)
LGPL = re.compile(r"\b(LGPL|Lesser General Public|Library General Public)", re.IGNORECASE)
COPYLEFT = re.compile(r"\b(A?GPL|Affero|General Public License|SSPL|EUPL|OSL-|CPAL|RPL|"
                      r"CC-BY-SA|Sleepycat|copyleft)", re.IGNORECASE)
LICENCE_FILE = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE|AUTHORS|ThirdPartyNotices|"
                          r"THIRD[-_]PARTY)", re.IGNORECASE)

# verdicts, from least to most restrictive
OK, MPL, LGPL_V, UNKNOWN, COPYLEFT_V = "permissive", "mpl", "lgpl", "unknown", "copyleft"
_RANK = {OK: 0, MPL: 1, LGPL_V: 2, UNKNOWN: 3, COPYLEFT_V: 4}


@dataclass
class Package:
    name: str
    version: str
    licence: str
    verdict: str
    allowed: bool
    why: str = ""


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def classify_term(term: str) -> str:
    """Verdict for one licence name (no OR/AND)."""
    if LGPL.search(term):
        return LGPL_V
    if COPYLEFT.search(term):
        return COPYLEFT_V
    if WEAK_FILE.search(term):
        return MPL
    if PERMISSIVE.search(term):
        return OK
    return UNKNOWN


def classify_expression(expr: str) -> str:
    """Verdict for a licence expression: OR takes the most permissive, AND the most restrictive."""
    expr = expr.replace("(", " ").replace(")", " ")
    alternatives = re.split(r"\s+OR\s+", expr)
    verdicts = []
    for alt in alternatives:
        parts = re.split(r"\s+(?:AND|WITH)\s+", alt)
        # "GPL-3.0 WITH GCC-exception": the exception does not make it permissive here
        verdicts.append(max((classify_term(p) for p in parts if p.strip()), key=_RANK.__getitem__,
                            default=UNKNOWN))
    return min(verdicts, key=_RANK.__getitem__)


def licence_of(dist: metadata.Distribution) -> tuple[str, str]:
    """Return (licence as declared, verdict) from the metadata."""
    md = dist.metadata
    expr = (md.get("License-Expression") or "").strip()
    if expr:
        return expr, classify_expression(expr)
    classifiers = [c.split("::")[-1].strip() for c in md.get_all("Classifier") or []
                   if c.startswith("License ::") and "OSI Approved ::" in c or
                   c.startswith("License ::") and c.count("::") == 1]
    classifiers = [c for c in classifiers if c not in ("OSI Approved", "Other/Proprietary License")]
    field = " ".join((md.get("License") or "").split())
    if classifiers:
        # several licence classifiers are alternatives (dual licensing)
        return " OR ".join(classifiers), min((classify_term(c) for c in classifiers),
                                             key=_RANK.__getitem__)
    if field and len(field) < 200:
        return field, classify_expression(field)
    return (field[:80] + "...") if field else "", UNKNOWN


def runtime_closure(root: str = ROOT_DIST,
                    dists: Mapping[str, metadata.Distribution] | None = None
                    ) -> dict[str, metadata.Distribution]:
    """The installed distributions `root` needs at run time (no extras), by normalised name."""
    from pip._vendor.packaging.requirements import Requirement  # always there in a venv

    if dists is None:
        dists = installed()
    seen: dict[str, metadata.Distribution] = {}
    done: set[tuple[str, str]] = set()
    # (name, extra): a requirement such as psycopg[binary] brings what that extra needs too
    todo = [(normalise(root), "")]
    while todo:
        name, extra = todo.pop()
        if (name, extra) in done:
            continue
        done.add((name, extra))
        dist = dists.get(name)
        if dist is None:
            raise SystemExit(f"licenses: {name} is required but not installed")
        seen[name] = dist
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is not None and not req.marker.evaluate({"extra": extra}):
                continue
            todo.append((normalise(req.name), ""))
            todo.extend((normalise(req.name), e) for e in req.extras)
    return seen


def installed(paths: Iterable[str] | None = None) -> dict[str, metadata.Distribution]:
    out: dict[str, metadata.Distribution] = {}
    for dist in metadata.distributions(path=list(paths) if paths is not None else sys.path):
        name = dist.metadata.get("Name")
        if name and normalise(name) not in out:
            out[normalise(name)] = dist
    return out


def judge(dists: Mapping[str, metadata.Distribution], root: str = ROOT_DIST) -> list[Package]:
    out = []
    for name, dist in sorted(runtime_closure(root, dists).items()):
        if name == normalise(root):
            continue
        licence, verdict = licence_of(dist)
        allowed, why = True, ""
        if verdict == LGPL_V:
            allowed = name in LGPL_DYNAMIC
            why = LGPL_DYNAMIC.get(name, "LGPL package not in the dynamic-linking allow-list")
        elif verdict == UNKNOWN:
            allowed = name in REVIEWED
            why = REVIEWED.get(name, "licence not readable from the metadata: review it")
        elif verdict == COPYLEFT_V:
            allowed, why = False, "copyleft licence"
        out.append(Package(dist.metadata["Name"], dist.version, licence, verdict, allowed, why))
    return out


def licence_files(dist: metadata.Distribution) -> list[Path]:
    """Licence and notice files in the distribution (its dist-info and its package folders)."""
    found = []
    for f in dist.files or []:
        parts = f.parts
        if any(p in ("tests", "test", "testing", "examples") for p in parts[:-1]):
            continue
        in_licence_dir = any(p.lower() in ("licenses", "licences", "license") for p in parts[:-1])
        if not (LICENCE_FILE.match(parts[-1]) or in_licence_dir):
            continue
        if parts[-1].endswith((".py", ".pyc", ".so", ".pyi")):
            continue
        path = Path(str(dist.locate_file(f)))
        if path.is_file() and path.stat().st_size < 2_000_000:
            found.append(path)
    return sorted(set(found))


#: Standard licence texts on Debian (base-files), for distributions that ship none: the LGPL
#: requires its text (and the GPL's) to accompany the library.
COMMON_LICENSES = Path("/usr/share/common-licenses")
_STANDARD = [(re.compile(r"LGPL-3|Lesser General Public License v3|LGPLv3"), ["LGPL-3", "GPL-3"]),
             (re.compile(r"LGPL-2\.1"), ["LGPL-2.1"]),
             (re.compile(r"Apache"), ["Apache-2.0"]),
             (re.compile(r"MPL-2\.0|Mozilla Public License 2"), ["MPL-2.0"])]


def standard_texts(licence: str) -> list[Path]:
    """The standard texts of the licence named (Debian's copies), when the package has none."""
    for pattern, names in _STANDARD:
        if pattern.search(licence):
            return [COMMON_LICENSES / n for n in names if (COMMON_LICENSES / n).is_file()]
    return []


def write_notice(out: Path, dists: Mapping[str, metadata.Distribution]) -> int:
    """Write every runtime package's licence texts into `out`; return the number of packages."""
    packages = judge(dists)
    lines = ["Oncoboard is licensed under the Apache License 2.0. It bundles the Python",
             "interpreter and the third-party packages below, each under its own licence, whose",
             "texts follow (generated at build time from the installed packages by",
             "packaging/licenses.py).", "",
             "Summary:"]
    lines += [f"  {p.name} {p.version}: {p.licence or '(not declared)'}" for p in packages]
    lines.append("")
    py_licence = Path(sys.base_prefix, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}",
                      "LICENSE.txt")
    if py_licence.is_file():
        lines += ["=" * 78, f"Python {sys.version.split()[0]}", "=" * 78,
                  py_licence.read_text(errors="replace"), ""]
    for p in packages:
        dist = dists[normalise(p.name)]
        lines += ["=" * 78, f"{p.name} {p.version}", f"Licence: {p.licence or '(not declared)'}"]
        home = dist.metadata.get("Home-page") or next(
            (u.split(",", 1)[-1].strip() for u in dist.metadata.get_all("Project-URL") or []), "")
        if home:
            lines.append(f"Project: {home}")
        lines.append("=" * 78)
        files = licence_files(dist) or standard_texts(p.licence)
        if not files:
            field = (dist.metadata.get("License") or "").strip()
            lines.append(field if len(field) > 200 else
                         "(the distribution carries no licence file; the licence named above "
                         "applies, in its standard text)")
        for f in files:
            rel = f.name if f.parent.name.endswith(".dist-info") else \
                "/".join(f.parts[-2:])
            lines += [f"--- {rel}", f.read_text(errors="replace").rstrip(), ""]
        lines.append("")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(packages)


def main(argv: list[str]) -> int:
    cmd = argv[0] if argv else "check"
    dists = installed()
    if cmd == "notice":
        if len(argv) < 2:
            print("usage: licenses.py notice OUT", file=sys.stderr)
            return 2
        n = write_notice(Path(argv[1]), dists)
        size = Path(argv[1]).stat().st_size
        print(f"licenses: {argv[1]}: {n} packages, {size // 1024} KiB")
        return 0
    packages = judge(dists)
    if cmd == "list":
        for p in packages:
            print(f"{p.name:24} {p.version:14} {p.verdict:10} {'ok ' if p.allowed else 'NO '} "
                  f"{p.licence[:60]}")
    bad = [p for p in packages if not p.allowed]
    lgpl = [p.name for p in packages if p.verdict == LGPL_V and p.allowed]
    if bad:
        for p in bad:
            print(f"licenses: FAIL {p.name} {p.version}: {p.licence or '(no licence)'} ({p.why})",
                  file=sys.stderr)
        return 1
    print(f"licenses: {len(packages)} runtime packages, no copyleft licence"
          + (f" (LGPL, dynamically linked: {', '.join(lgpl)})" if lgpl else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
