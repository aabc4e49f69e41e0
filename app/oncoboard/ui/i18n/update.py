"""Refresh the translation sources and compile them: ``python -m oncoboard.ui.i18n.update``.

Each UI module defines ``tr(text)`` as ``QCoreApplication.translate("<Context>", text)``; this
script finds every ``tr("...")`` literal with the module's context (Python's ``ast``), merges
them into ``oncoboard_<lang>.ts`` (existing translations kept, new strings marked unfinished,
strings no longer used marked obsolete) and compiles the ``.qm`` with ``pyside6-lrelease``.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

UI_DIR = Path(__file__).resolve().parent.parent
I18N_DIR = Path(__file__).resolve().parent
LANGUAGES = ("fr",)


def module_context(tree: ast.Module) -> str | None:
    """Return the context of the module's ``tr`` helper (its translate call's first argument)."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "tr":
            for call in ast.walk(node):
                if (isinstance(call, ast.Call) and getattr(call.func, "attr", "") == "translate"
                        and call.args and isinstance(call.args[0], ast.Constant)):
                    return str(call.args[0].value)
    return None


def extract() -> dict[str, list[str]]:
    """Return the translatable strings by context, in source order, without duplicates."""
    found: dict[str, list[str]] = {}
    for path in sorted(UI_DIR.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        context = module_context(tree)
        if context is None:
            continue
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "tr" and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)):
                strings = found.setdefault(context, [])
                if node.args[0].value not in strings:
                    strings.append(node.args[0].value)
    # view names and other strings passed through tr() as variables
    from oncoboard.imaging.display import CT_PRESETS, PLANE_NAMES
    from oncoboard.ui.main_window import VIEW_TITLES
    from oncoboard.ui.plots import ROWS

    extra = {"MainWindow": list(VIEW_TITLES.values()), "Plots": list(ROWS),
             "ViewerView": [p[0] for p in CT_PRESETS] + ["Header", "Auto"],
             "SliceView": list(PLANE_NAMES.values()),
             "PatientView": ["Age", "Sex", "Diagnosis", "Stage", "Markers", "ECOG",
                             "Current treatment"],
             "PatientBrowserView": ["ID", "Name", "Sex", "Age", "Diagnosis"],
             "BoardView": ["planned", "held", "closed"]}
    for context, strings in extra.items():
        bucket = found.setdefault(context, [])
        bucket += [s for s in strings if s not in bucket]
    return found


def read_ts(path: Path) -> dict[tuple[str, str], str]:
    """Return the finished translations of a .ts file by (context, source)."""
    if not path.is_file():
        return {}
    out = {}
    for ctx in ET.parse(path).getroot().iter("context"):
        name = ctx.findtext("name") or ""
        for msg in ctx.iter("message"):
            tr_el = msg.find("translation")
            if tr_el is not None and tr_el.text and tr_el.get("type") not in ("obsolete",):
                out[(name, msg.findtext("source") or "")] = tr_el.text
    return out


def write_ts(path: Path, language: str, strings: dict[str, list[str]],
             known: dict[tuple[str, str], str]) -> tuple[int, int]:
    """Write the .ts file; return (translated, total)."""
    root = ET.Element("TS", version="2.1", language=language)
    done = total = 0
    for context in sorted(strings):
        ctx = ET.SubElement(root, "context")
        ET.SubElement(ctx, "name").text = context
        for source in strings[context]:
            msg = ET.SubElement(ctx, "message")
            ET.SubElement(msg, "source").text = source
            text = known.get((context, source))
            tr_el = ET.SubElement(msg, "translation")
            total += 1
            if text:
                tr_el.text = text
                done += 1
            else:
                tr_el.set("type", "unfinished")
    ET.indent(root)
    path.write_text('<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE TS>\n'
                    + ET.tostring(root, encoding="unicode") + "\n", encoding="utf-8")
    return done, total


def lrelease() -> str:
    """Return the path of Qt's lrelease (PySide6 ships it as pyside6-lrelease)."""
    for name in ("pyside6-lrelease", "lrelease"):
        found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
        if found:
            return found
    raise SystemExit("pyside6-lrelease not found: install PySide6-Essentials")


def main() -> int:
    """Update every .ts file and compile it."""
    strings = extract()
    for language in LANGUAGES:
        ts = I18N_DIR / f"oncoboard_{language}.ts"
        done, total = write_ts(ts, language, strings, read_ts(ts))
        qm = ts.with_suffix(".qm")
        subprocess.run([lrelease(), "-silent", str(ts), "-qm", str(qm)], check=True)
        print(f"{ts.name}: {done}/{total} strings translated -> {qm.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
