"""Plugin trust: the manifest is signed, bundled plugins are pinned, copies never win silently."""

from __future__ import annotations

import dataclasses
import shutil
import tomllib
from pathlib import Path

import pytest
from inference_helpers import COEFS, INTERCEPT, logistic_manifest, logistic_onnx, write_plugin

from oncoboard.inference import integrity
from oncoboard.inference.discovery import check_plugin, discover_plugins, verify_folder
from oncoboard.inference.manifest import load_manifest

REPO = Path(__file__).resolve().parents[3]
BUNDLED = REPO / "plugins"
PROJECT_KEY = REPO / "packaging" / "plugin-signing" / "project-key.pem"


def _bundled_folders():
    return sorted(p for p in BUNDLED.iterdir() if (p / "plugin.toml").is_file())


@pytest.mark.parametrize("folder", _bundled_folders(), ids=lambda p: p.name)
def test_every_bundled_plugin_is_signed_by_the_project_key(folder):
    """Fails after a rebuild of plugins/ until it is re-signed (packaging/plugin-signing)."""
    key = integrity.project_public_key()
    assert key is not None, "the project public key is not shipped in the package"
    status = integrity.check_signature(folder, load_manifest(folder), [key])
    assert status.valid, (
        f"{folder.name}: {status.problem or 'not signed'}; re-sign with: PYTHONPATH=app python "
        "-m oncoboard plugins sign --bundled --key packaging/plugin-signing/project-key.pem")


def test_shipped_public_key_matches_the_signing_key():
    from cryptography.hazmat.primitives import serialization

    private = serialization.load_pem_private_key(PROJECT_KEY.read_bytes(), password=None)
    public = serialization.load_pem_public_key(integrity.project_public_key().read_bytes())
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    assert private.public_key().public_bytes(*raw) == public.public_bytes(*raw)


@pytest.fixture
def bundled(tmp_path, monkeypatch):
    """A bundled folder holding a copy of the shipped carg-toxicity plugin (signed)."""
    root = tmp_path / "bundled"
    shutil.copytree(BUNDLED / "carg-toxicity", root / "carg-toxicity")
    monkeypatch.setenv("ONCOBOARD_BUNDLED_PLUGINS", str(root))
    return root / "carg-toxicity"


def _edit(folder, old, new):
    text = (folder / "plugin.toml").read_text(encoding="utf-8")
    assert old in text
    (folder / "plugin.toml").write_text(text.replace(old, new, 1), encoding="utf-8")


def _by_folder(settings):
    return {p.folder: p for p in discover_plugins(settings)}


def test_unsigned_edited_copy_never_shadows_the_bundled_plugin(settings, plugin_root, bundled):
    copy = plugin_root / "carg-toxicity"
    shutil.copytree(bundled, copy)
    (copy / "plugin.toml.sig").unlink()
    _edit(copy, "valid_range = [18.0, 120.0]", "valid_range = [0.0, 200.0]")  # widened
    found = _by_folder(settings)
    assert found[bundled].enabled and found[bundled].signed
    assert not found[copy].enabled
    assert "not used: unsigned" in found[copy].problems[0]
    plugin = verify_folder(copy, settings)
    assert not plugin.enabled and "not used: unsigned" in plugin.problems[0]


def test_plugins_verify_fails_on_the_edited_copy(bundled, tmp_path, monkeypatch, run):
    extra = tmp_path / "extra"
    shutil.copytree(bundled, extra / "carg-toxicity")
    (extra / "carg-toxicity" / "plugin.toml.sig").unlink()
    _edit(extra / "carg-toxicity", "valid_range = [18.0, 120.0]", "valid_range = [0.0, 200.0]")
    monkeypatch.setenv("ONCOBOARD_PLUGIN_PATH", str(extra))
    code, out, _ = run("plugins", "verify")
    assert code == 1 and "FAIL carg-toxicity" in out and "not used: unsigned" in out
    code, out, _ = run("plugins", "verify", extra / "carg-toxicity")
    assert code == 1 and "not used: unsigned" in out


def test_copy_edited_with_its_signature_refused(settings, plugin_root, bundled):
    copy = plugin_root / "carg-toxicity"
    shutil.copytree(bundled, copy)
    _edit(copy, "valid_range = [18.0, 120.0]", "valid_range = [0.0, 200.0]")
    _, pub = _keypair(plugin_root.parent, "site")
    p = check_plugin(copy, dataclasses.replace(settings, trusted_keys=(pub,)))
    assert not p.enabled and "does not verify" in p.problems[0]


def test_bundled_plugin_edited_in_place_is_refused(settings, bundled):
    _edit(bundled, "valid_range = [18.0, 120.0]", "valid_range = [0.0, 200.0]")
    p = _by_folder(settings)[bundled]
    assert not p.enabled and "without a valid project signature" in p.problems[0]
    (bundled / "plugin.toml.sig").unlink()
    p = check_plugin(bundled, settings, "bundled")
    assert not p.enabled and "not signed" in p.problems[0]


def test_signed_only_policy_keeps_the_bundled_plugins(settings, bundled):
    strict = dataclasses.replace(settings, signed_plugins_only=True)
    assert _by_folder(strict)[bundled].enabled


def test_project_key_vouches_for_the_bundled_folder_only(settings, plugin_root, bundled):
    shutil.copytree(bundled, plugin_root / "carg-toxicity")
    p = check_plugin(plugin_root / "carg-toxicity",
                     dataclasses.replace(settings, signed_plugins_only=True))
    assert not p.enabled and "signed plugins only" in p.problems[0]


def test_locked_policy_ignores_a_moved_bundled_folder(settings, bundled, tmp_path, monkeypatch):
    rogue = tmp_path / "rogue"
    shutil.copytree(bundled, rogue / "carg-toxicity")
    monkeypatch.setenv("ONCOBOARD_BUNDLED_PLUGINS", str(rogue))
    strict = dataclasses.replace(settings, signed_plugins_only=True,
                                 locked=frozenset({"signed_plugins_only"}))
    assert all(p.folder.parent != rogue for p in discover_plugins(strict))


def _keypair(folder, name):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    priv = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    pub = folder / f"{name}.pub"
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return priv, pub


def test_only_a_signed_higher_version_overrides_the_bundled_plugin(settings, bundled, tmp_path):
    priv, pub = _keypair(tmp_path, "site")
    site = tmp_path / "site-plugins"
    newer = site / "carg-toxicity"
    shutil.copytree(bundled, newer)
    (newer / "plugin.toml.sig").unlink()
    bundled_version = tomllib.loads((bundled / "plugin.toml").read_text())["version"]
    higher = f"{int(bundled_version.split('.')[0]) + 1}.0.0"
    _edit(newer, f'version = "{bundled_version}"', f'version = "{higher}"')
    s = dataclasses.replace(settings, site_plugin_dir=site, trusted_keys=(pub,))
    found = _by_folder(s)
    assert found[bundled].enabled and not found[newer].enabled  # unsigned: refused
    integrity.sign_plugin(newer, priv)
    found = _by_folder(s)
    assert found[newer].enabled and not found[bundled].enabled
    assert found[bundled].problems == [f"shadowed by version {higher} in {newer}"]
    assert any(f"overrides carg-toxicity {bundled_version}" in w for w in found[newer].warnings)


def test_same_id_and_version_with_different_manifests_is_ambiguous(settings, plugin_root,
                                                                  tmp_path):
    write_plugin(plugin_root, logistic_manifest(), logistic_onnx(list(COEFS.values()), INTERCEPT))
    site = tmp_path / "site"
    m = logistic_manifest(name="Edited copy")
    write_plugin(site, m, logistic_onnx(list(COEFS.values()), INTERCEPT))
    found = [p for p in discover_plugins(dataclasses.replace(settings, site_plugin_dir=site))
             if p.id == "test-logistic"]
    assert [p.enabled for p in found] == [False, False]
    assert all("ambiguous" in p.problems[0] for p in found)


def test_identical_copies_are_duplicates_not_ambiguous(settings, plugin_root, tmp_path):
    folder = write_plugin(plugin_root, logistic_manifest(),
                          logistic_onnx(list(COEFS.values()), INTERCEPT))
    site = tmp_path / "site"
    shutil.copytree(folder, site / folder.name)
    found = [p for p in discover_plugins(dataclasses.replace(settings, site_plugin_dir=site))
             if p.id == "test-logistic"]
    assert [(p.origin, p.enabled) for p in found] == [("site", True), ("extra", False)]
    assert found[1].problems[0].startswith("duplicate of") and found[1].superseded


def test_sign_command_signs_without_touching_the_manifest(settings, plugin_root, tmp_path, run):
    priv, pub = _keypair(tmp_path, "k")
    (tmp_path / "k.pem").write_bytes(priv)
    folder = write_plugin(plugin_root, logistic_manifest(),
                          logistic_onnx(list(COEFS.values()), INTERCEPT))
    before = (folder / "plugin.toml").read_bytes()
    code, out, _ = run("plugins", "sign", folder, "--key", tmp_path / "k.pem")
    assert code == 0 and (folder / "plugin.toml.sig").is_file()
    assert (folder / "plugin.toml").read_bytes() == before
    p = check_plugin(folder, dataclasses.replace(settings, signed_plugins_only=True,
                                                 trusted_keys=(pub,)))
    assert p.enabled and p.signed
