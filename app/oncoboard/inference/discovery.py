"""Find plugins, check each one, and install new ones.

Plugins are folders holding a ``plugin.toml``; they are looked for in the site folder set by IT
(``settings.site_plugin_dir``), the user folder (``settings.user_plugin_dir``, where
``oncoboard plugins install`` puts them), the folders of ``ONCOBOARD_PLUGIN_PATH``
(``settings.extra_plugin_dirs``) and the plugins bundled with the application
(:func:`bundled_plugin_dir`).

Every plugin is checked: valid manifest, model file present with the declared sha256, signature
(required when ``settings.signed_plugins_only``), the manifest's tensors against the ONNX graph,
the explanation coefficients against the model, and the golden case. A plugin that fails a check
is listed as disabled with its reasons; it never stops the others from loading.

Trust. The signature covers the exact bytes of ``plugin.toml`` (which holds the model's
sha256), so an edited manifest (a threshold, a ``valid_range``) no longer verifies. The bundled
plugins are pinned: each must carry a valid signature by the project key shipped in the package
(:func:`oncoboard.inference.integrity.project_public_key`), which is trusted for that folder
only; a bundled plugin that is unsigned or edited after signing is refused. When the site sets
``signed_plugins_only``, ``ONCOBOARD_BUNDLED_PLUGINS`` cannot move the bundled folder.

Same id in several folders (:func:`_resolve`, shown by ``plugins list`` and ``plugins verify``):

1. an unsigned plugin never overrides a signed one: while a signed plugin with its id is usable,
   the unsigned one is refused ("not used: unsigned");
2. among the rest, the highest version wins; the others are disabled ("shadowed by version");
3. equal versions with identical manifest and model: the first of site, user, extra, bundled
   wins (the others are "duplicate"); equal versions that differ are ambiguous: none of them is
   used until one is removed or given a higher version.

So only a signed, higher version overrides a bundled plugin, and the winner says what it
overrides in its warnings.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oncoboard.errors import NotFoundError, OncoboardError, PluginError
from oncoboard.inference import check_cache, integrity
from oncoboard.inference.check_cache import CheckCache
from oncoboard.inference.manifest import MANIFEST_NAME, Manifest, load_manifest

if TYPE_CHECKING:
    from oncoboard.config import Settings

log = logging.getLogger(__name__)

ORIGINS = ("site", "user", "extra", "bundled", "candidate")
#: Reasons a plugin is disabled that mean "another copy is used", not "refused".
SUPERSEDED = ("shadowed by", "duplicate of")


@dataclass
class Plugin:
    """A plugin found on disk, with the result of its checks."""

    id: str
    folder: Path
    origin: str                         # site | user | extra | bundled
    manifest: Manifest | None
    enabled: bool = False
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    signed: bool = False
    signer: str | None = None
    manifest_sha256: str | None = None

    @property
    def superseded(self) -> bool:
        """Return whether the plugin is disabled only because another copy of it is used."""
        return (not self.enabled and bool(self.problems)
                and all(p.startswith(SUPERSEDED) for p in self.problems))

    @property
    def model_path(self) -> Path:
        """Return the ONNX file's path."""
        assert self.manifest is not None
        return self.folder / self.manifest.model.file

    def require(self) -> Manifest:
        """Return the manifest of an enabled plugin; raise PluginError with its reasons."""
        if not self.enabled or self.manifest is None:
            raise PluginError("plugin is disabled: " + "; ".join(self.problems),
                              where=f"plugin {self.id}", file=self.folder)
        return self.manifest

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready summary (for `plugins list --json` and the UI)."""
        m = self.manifest
        return {
            "id": self.id, "name": m.name if m else None, "version": m.version if m else None,
            "task": m.task if m else None, "origin": self.origin, "folder": str(self.folder),
            "enabled": self.enabled, "problems": self.problems, "warnings": self.warnings,
            "signed": self.signed, "signer": self.signer,
            "synthetic": m.synthetic if m else None,
            "model_sha256": m.model.sha256 if m else None,
            "outputs": [o.kind for o in m.outputs] if m else [],
            "inputs": [i.name for i in m.inputs] if m else [],
            "population": m.population.description if m else None,
        }


def bundled_plugin_dir(*, use_env: bool = True) -> Path | None:
    """Return the folder of the plugins shipped with the application, or None.

    Looked for, in order: ``ONCOBOARD_BUNDLED_PLUGINS`` (unless `use_env` is False); the
    PyInstaller bundle (``sys._MEIPASS/plugins``); ``plugins`` inside the installed package; the
    data prefix (``<prefix>/share/oncoboard/plugins``); the repository root of a source checkout.
    """
    env = os.environ.get("ONCOBOARD_BUNDLED_PLUGINS") if use_env else None
    if env is not None:  # set (even to a missing folder): it alone decides
        return Path(env) if env and Path(env).is_dir() else None
    here = Path(__file__).resolve()
    candidates: list[Path] = []
    if hasattr(sys, "_MEIPASS"):
        candidates.append(Path(sys._MEIPASS) / "plugins")
    candidates += [here.parents[1] / "plugins", Path(sys.prefix) / "share" / "oncoboard" /
                   "plugins", here.parents[3] / "plugins"]
    for path in candidates:
        if path.is_dir():
            return path
    return None


def plugin_dirs(settings: Settings) -> list[tuple[str, Path]]:
    """Return (origin, folder) for every plugin folder to search, in precedence order."""
    out: list[tuple[str, Path]] = []
    if settings.site_plugin_dir:
        out.append(("site", Path(settings.site_plugin_dir)))
    out.append(("user", Path(settings.user_plugin_dir)))
    out += [("extra", Path(p)) for p in settings.extra_plugin_dirs]
    locked = "signed_plugins_only" in getattr(settings, "locked", ()) and \
        settings.signed_plugins_only
    if locked and os.environ.get("ONCOBOARD_BUNDLED_PLUGINS") is not None:
        log.warning("ONCOBOARD_BUNDLED_PLUGINS ignored: the site requires signed plugins")
    bundled = bundled_plugin_dir(use_env=not locked)
    if bundled is not None:
        out.append(("bundled", bundled))
    return out


def check_plugin(folder: Path, settings: Settings, origin: str = "extra", *,
                 golden: bool = True, cache: CheckCache | None = None) -> Plugin:
    """Load and check the plugin in `folder`; never raises for a broken plugin.

    With `cache`, the units and model checks of files checked before are taken from it (see
    :mod:`oncoboard.inference.check_cache`); hashes and the signature are always checked.
    """
    folder = Path(folder)
    plugin = Plugin(folder.name, folder, origin, None)
    manifest_file = folder / MANIFEST_NAME
    try:
        data = manifest_file.read_bytes()
    except OSError:
        data = None  # load_manifest says why
    msha = integrity.sha256_bytes(data) if data is not None else None
    units_known = cache is not None and msha is not None and \
        cache.units_known(folder, origin, msha)
    try:
        plugin.manifest = load_manifest(manifest_file, data=data, units_known=units_known)
    except PluginError as exc:
        plugin.problems.append(exc.message)
        return plugin
    m = plugin.manifest
    plugin.id = m.id
    try:
        plugin.manifest_sha256 = msha
        model_sha = _check_files(plugin, settings)
        if not plugin.problems and model_sha is not None:
            key = None
            if cache is not None and msha is not None:
                sig = integrity.signature_path(folder, m)
                key = check_cache.model_key(
                    manifest_sha256=msha, model_sha256=model_sha, folder=folder,
                    signature_sha256=integrity.sha256_file(sig) if sig and sig.is_file()
                    else None, golden=golden, code=cache.code)
                cached = cache.model_problems(folder, origin, key)
                if cached is not None:
                    plugin.problems += cached
                    key = None  # nothing new to remember
            if key is not None or cache is None:
                before = len(plugin.problems)
                _check_model(plugin, golden=golden)
                if cache is not None and msha is not None and key is not None:
                    cache.remember(folder, origin, manifest_sha256=msha, key=key,
                                   problems=plugin.problems[before:])
        elif cache is not None and msha is not None:
            cache.remember(folder, origin, manifest_sha256=msha)
    except OncoboardError as exc:
        plugin.problems.append(exc.message)
    except Exception as exc:  # a broken plugin must never break discovery
        log.exception("checking plugin %s", folder)
        plugin.problems.append(f"unexpected error while checking: {type(exc).__name__}: {exc}")
    plugin.enabled = not plugin.problems
    return plugin


def _check_files(plugin: Plugin, settings: Settings) -> str | None:
    """Check the files, hashes and signature; return the model file's sha256 (None if absent)."""
    m = plugin.manifest
    assert m is not None
    if m.id != plugin.folder.name and plugin.origin != "candidate":
        plugin.warnings.append(f"folder name {plugin.folder.name!r} differs from id {m.id!r}")
    model = plugin.folder / m.model.file
    if not model.is_file():
        plugin.problems.append(f"model file {m.model.file} is missing")
        return None
    actual = integrity.sha256_file(model)
    if actual != m.model.sha256:
        plugin.problems.append(f"model sha256 mismatch: manifest says {m.model.sha256[:16]}..., "
                               f"file is {actual[:16]}...")
    if not (plugin.folder / m.model_card).is_file():
        plugin.warnings.append(f"model card {m.model_card} is missing")
    keys = list(settings.trusted_keys)
    project = integrity.project_public_key()
    if plugin.origin == "bundled" and project is not None:
        keys.append(project)  # the project key vouches for the files it shipped, nowhere else
    sig = integrity.check_signature(plugin.folder, m, keys)
    plugin.signed, plugin.signer = sig.valid, sig.key
    if plugin.origin == "bundled" and project is not None and not sig.valid:
        plugin.problems.append("bundled plugin without a valid project signature ("
                               + (sig.problem or "not signed")
                               + "): its plugin.toml was changed after the build signed it; "
                               "re-sign it (README, Plugins) or reinstall")
    elif sig.signed and not sig.valid and sig.problem and "no trusted key" not in sig.problem:
        plugin.problems.append(sig.problem)
    elif settings.signed_plugins_only and not sig.valid:
        plugin.problems.append("site policy allows signed plugins only: "
                               + (sig.problem or "the plugin is not signed"))
    elif sig.problem:
        plugin.warnings.append(sig.problem)
    return actual


def _check_model(plugin: Plugin, *, golden: bool) -> None:
    from oncoboard.inference import checks

    m = plugin.manifest
    assert m is not None
    try:
        session = integrity.open_check_session(plugin.model_path)
    except ValueError as exc:
        plugin.problems.append(str(exc))
        return
    plugin.problems += integrity.check_graph(m, session)
    if plugin.problems:
        return
    plugin.problems += checks.check_scenarios(m)
    plugin.problems += checks.check_coefficients(m, plugin.model_path)
    if golden and m.golden is not None:
        plugin.problems += checks.check_golden(m, plugin.model_path)


def _candidates(origin: str, root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    if (root / MANIFEST_NAME).is_file():  # a plugin folder given directly
        return [root]
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / MANIFEST_NAME).is_file())


_CACHE: dict[tuple[Any, ...], Plugin] = {}


def _cached_check(folder: Path, settings: Settings, origin: str,
                  cache: CheckCache | None = None) -> Plugin:
    """Check a plugin once per (files' sizes and times, policy) in this process.

    Across processes, `cache` (the data folder's) spares the units and model checks of files
    already checked; the hashes and signature are checked again (see :mod:`.check_cache`).
    """
    stamp = []
    for p in sorted(folder.iterdir()):
        if p.is_file():
            st = p.stat()
            stamp.append((p.name, st.st_size, st.st_mtime_ns))
    key = (str(folder), origin, tuple(stamp), settings.signed_plugins_only,
           tuple(map(str, settings.trusted_keys)))
    if key not in _CACHE:
        _CACHE[key] = check_plugin(folder, settings, origin, cache=cache)
    found = _CACHE[key]
    return Plugin(found.id, found.folder, found.origin, found.manifest, found.enabled,
                  list(found.problems), list(found.warnings), found.signed, found.signer,
                  found.manifest_sha256)


def discover_plugins(settings: Settings) -> list[Plugin]:
    """Return every plugin found, checked; one plugin per id is enabled (see :func:`_resolve`)."""
    found: list[Plugin] = []
    cache: CheckCache | None = None
    for origin, root in plugin_dirs(settings):
        for folder in _candidates(origin, root):
            if cache is None:
                cache = CheckCache.for_settings(settings)
            found.append(_cached_check(folder, settings, origin, cache))
    if cache is not None:
        cache.save()
    by_id: dict[str, list[Plugin]] = {}
    for p in found:
        by_id.setdefault(p.id, []).append(p)
    for group in by_id.values():
        _resolve(group)
    return sorted(found, key=lambda p: (p.id, not p.enabled, ORIGINS.index(p.origin)))


def _resolve(group: list[Plugin]) -> None:
    """Leave at most one plugin of `group` (same id) enabled, by the rules of the module doc."""
    usable = [p for p in group if p.enabled]
    if len(usable) < 2:
        return
    signed = [p for p in usable if p.signed]
    pool = signed or usable
    top = max(_version_key(p) for p in pool)
    tops = sorted((p for p in pool if _version_key(p) == top),
                  key=lambda p: ORIGINS.index(p.origin))
    best = tops[0]
    version = best.manifest.version if best.manifest else "?"
    ambiguous = len({(p.manifest_sha256, p.manifest.model.sha256 if p.manifest else None)
                     for p in tops}) > 1
    for p in usable:
        if p is best and not ambiguous:
            continue
        p.enabled = False
        if p not in pool:
            p.problems.append(f"not used: unsigned, while {signed[0].folder} holds a signed "
                              f"plugin {p.id} (an unsigned plugin never overrides a signed one)")
        elif p in tops and ambiguous:
            others = ", ".join(str(o.folder) for o in tops if o is not p)
            p.problems.append(f"ambiguous: {others} holds another {p.id} {version} with a "
                              "different manifest or model; none is used until one is removed "
                              "or given a higher version")
        elif p in tops:
            p.problems.append(f"duplicate of {best.folder} (identical files)")
        else:
            p.problems.append(f"shadowed by version {version} in {best.folder}")
    if not ambiguous:
        for p in usable:
            if p is not best and p.superseded and p.manifest is not None:
                best.warnings.append(f"overrides {p.id} {p.manifest.version} in {p.folder} "
                                     f"({p.origin})")


def verify_folder(folder: Path, settings: Settings) -> Plugin:
    """Check the plugin in `folder` and how it stands against the plugins found with its id.

    A folder that discovery finds anyway is reported as discovery sees it; another one (a copy
    about to be installed or put on the plugin path) is also refused when it could not be used
    beside them, e.g. an unsigned edited copy of a signed plugin.
    """
    folder = Path(folder)
    found = discover_plugins(settings)
    for p in found:
        if p.folder.resolve() == folder.resolve():
            return p
    candidate = check_plugin(folder, settings, "candidate")
    same = [p for p in found if p.id == candidate.id and p.enabled]
    if candidate.enabled and same:
        _resolve([candidate, *same])
        if candidate.superseded:  # an older or identical copy is not a broken plugin
            candidate.warnings += candidate.problems
            candidate.problems, candidate.enabled = [], True
    return candidate


def _version_key(p: Plugin) -> tuple[int, ...]:
    if p.manifest is None:
        return ()
    core = p.manifest.version.split("-")[0].split("+")[0]
    return tuple(int(x) for x in core.split(".") if x.isdigit())


def get_plugin(settings: Settings, plugin_id: str) -> Plugin:
    """Return the enabled plugin `plugin_id`; raise NotFoundError / PluginError otherwise."""
    plugins = [p for p in discover_plugins(settings) if p.id == plugin_id]
    if not plugins:
        raise NotFoundError(f"no plugin {plugin_id!r}", where="plugins")
    plugins[0].require()
    return plugins[0]


def install_plugin(archive: Path, settings: Settings) -> Plugin:
    """Check a plugin .zip and copy it atomically into the user plugin folder."""
    archive = Path(archive)
    if not archive.is_file():
        raise PluginError("no such file", file=archive)
    if not zipfile.is_zipfile(archive):
        raise PluginError("not a zip archive", file=archive)
    dest_root = Path(settings.user_plugin_dir)
    dest_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest_root, prefix=".install-") as tmp:
        staging = Path(tmp) / "unpacked"
        _safe_extract(archive, staging)
        roots = [staging] if (staging / MANIFEST_NAME).is_file() else \
            [p for p in staging.iterdir() if (p / MANIFEST_NAME).is_file()]
        if len(roots) != 1:
            raise PluginError("the archive must hold exactly one plugin (a plugin.toml at its "
                              "root or in one folder)", file=archive)
        plugin = check_plugin(roots[0], settings, "candidate")
        if not plugin.enabled:
            # name files as they are in the archive, not in the temporary staging folder
            problems = "; ".join(plugin.problems).replace(f"{roots[0]}{os.sep}", "")
            raise PluginError("refused: " + problems, file=archive,
                              where=f"plugin {plugin.id}" if plugin.manifest else None)
        final = dest_root / plugin.id
        backup = Path(tmp) / "previous"
        if final.exists():
            final.rename(backup)
        try:
            roots[0].rename(final)
        except OSError:
            if backup.exists():
                backup.rename(final)
            raise
    log.info("installed plugin %s %s into %s", plugin.id, plugin.manifest and
             plugin.manifest.version, final)
    return check_plugin(final, settings, "user")


def _safe_extract(archive: Path, into: Path) -> None:
    into.mkdir(parents=True)
    with zipfile.ZipFile(archive) as zf:
        total = 0
        for info in zf.infolist():
            target = (into / info.filename).resolve()
            if not str(target).startswith(str(into.resolve()) + os.sep) and target != into:
                raise PluginError(f"unsafe path in archive: {info.filename}", file=archive)
            if info.external_attr >> 16 & 0o170000 == 0o120000:
                raise PluginError(f"symbolic link in archive: {info.filename}", file=archive)
            total += info.file_size
            if total > 2 * 1024**3:
                raise PluginError("archive too large (over 2 GiB unpacked)", file=archive)
        zf.extractall(into)
    if not any(into.iterdir()):
        shutil.rmtree(into)
        raise PluginError("empty archive", file=archive)
