"""The user's settings file written back: what the settings dialog may change.

Moved from :mod:`oncoboard.config` unchanged (which reads the settings): the changes are checked
as :func:`~oncoboard.config.load_settings` would check them, then the user file is replaced
atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from oncoboard.config import _SCALARS, _read_toml, _validated, default_data_dir, user_config_path
from oncoboard.errors import ConfigError


def save_user_settings(updates: dict[str, Any]) -> Path:
    """Merge `updates` into the user configuration file and return its path.

    Only the settings a user may change from the settings dialog are accepted.
    """
    allowed = {"data_dir", "language", "providers"}
    bad = set(updates) - allowed - {"pacs"}
    if bad:
        raise ConfigError(f"cannot change {', '.join(sorted(bad))} from user settings")
    path = user_config_path()
    current = _read_toml(path)
    current.update(updates)
    _validated({"data_dir": current.get("data_dir", default_data_dir()),
                **{k: v for k, v in current.items() if k in _SCALARS and k != "data_dir"}})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(_to_toml(current), encoding="utf-8")
    tmp.replace(path)
    return path


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    s = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


def _to_toml(values: dict[str, Any]) -> str:
    lines = [f"{k} = {_toml_value(v)}" for k, v in values.items() if k not in ("pacs", "dicom")]
    if "dicom" in values:
        lines += ["", "[dicom]"] + [f"{k} = {_toml_value(v)}" for k, v in values["dicom"].items()]
    for node in values.get("pacs", []):
        lines += ["", "[[pacs]]"] + [f"{k} = {_toml_value(v)}" for k, v in node.items()]
    return "\n".join(lines) + "\n"
