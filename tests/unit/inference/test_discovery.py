"""Discovery and integrity: hash, ONNX/manifest agreement, corrupt files, signatures, install."""

from __future__ import annotations

import base64
import dataclasses
import zipfile

import pytest
from inference_helpers import (
    COEFS,
    INTERCEPT,
    dump_toml,
    logistic_manifest,
    logistic_onnx,
    logistic_plugin,
    write_plugin,
)

from oncoboard.board.trail import verify_trail
from oncoboard.errors import PluginError
from oncoboard.inference import discovery, integrity
from oncoboard.inference.discovery import check_plugin, discover_plugins, install_plugin


def _only(settings, pid):
    return [p for p in discover_plugins(settings) if p.id == pid][0]


def test_valid_plugin_enabled(settings, plugin_root):
    logistic_plugin(plugin_root)
    p = _only(settings, "test-logistic")
    assert p.enabled, p.problems
    assert p.origin == "extra" and p.manifest_sha256 and not p.signed


def test_hash_mismatch_refused(settings, plugin_root):
    folder = logistic_plugin(plugin_root)
    (folder / "model.onnx").write_bytes(logistic_onnx([0.1, 0.1, 0.1], 0.0))
    p = check_plugin(folder, settings)
    assert not p.enabled and "sha256 mismatch" in p.problems[0]


def test_missing_model_refused(settings, plugin_root):
    folder = logistic_plugin(plugin_root)
    (folder / "model.onnx").unlink()
    assert "model file model.onnx is missing" in check_plugin(folder, settings).problems


def test_corrupt_onnx_refused(settings, plugin_root):
    write_plugin(plugin_root, logistic_manifest(), b"this is not an onnx file")
    p = _only(settings, "test-logistic")
    assert not p.enabled and "cannot be loaded" in p.problems[0]


def test_graph_mismatch_refused(settings, plugin_root):
    m = logistic_manifest()
    m["model"]["inputs"][0]["dtype"] = "float64"
    m["model"]["outputs"][0]["shape"] = [-1, 3]
    p = check_plugin(write_plugin(plugin_root, m, logistic_onnx(list(COEFS.values()),
                                                                INTERCEPT)), settings)
    assert not p.enabled
    assert any("dtype float64 declared, graph has float32" in x for x in p.problems)
    assert any("shape [-1, 3] declared" in x for x in p.problems)


def test_graph_name_and_fixed_batch_mismatch(settings, plugin_root):
    model = logistic_onnx(list(COEFS.values()), INTERCEPT, batch=1, input_name="x")
    p = check_plugin(write_plugin(plugin_root, logistic_manifest(), model), settings)
    assert any("graph input 'x' is not declared" in x for x in p.problems)
    assert any("'features' is not in the graph" in x for x in p.problems)
    assert any("fixed shape" in x for x in p.problems)


def test_broken_plugin_does_not_break_others(settings, plugin_root):
    logistic_plugin(plugin_root, "good-one")
    bad = plugin_root / "bad-one"
    bad.mkdir()
    (bad / "plugin.toml").write_text("id = 'bad-one'\nname = 'x'")
    plugins = {p.id: p for p in discover_plugins(settings)}
    assert plugins["good-one"].enabled
    assert not plugins["bad-one"].enabled and "invalid manifest" in plugins["bad-one"].problems[0]


def test_wrong_coefficients_refused(settings, plugin_root):
    m = logistic_manifest()
    m["explanation"]["coefficients"]["age"] = 0.3
    p = check_plugin(write_plugin(plugin_root, m, logistic_onnx(list(COEFS.values()),
                                                                INTERCEPT)), settings)
    assert not p.enabled and "coefficient of age does not match" in p.problems[0]


def test_golden_case_checked(settings, plugin_root):
    m = logistic_manifest(golden={"inputs": {"age": 60, "ldh": 200, "ecog": "0"},
                                  "expected": {"risk": 0.2}, "tolerance": 1e-6})
    p = check_plugin(write_plugin(plugin_root, m, logistic_onnx(list(COEFS.values()),
                                                                INTERCEPT)), settings)
    assert not p.enabled and "golden case: risk" in p.problems[0]
    from inference_helpers import sigmoid
    m["golden"]["expected"]["risk"] = sigmoid(INTERCEPT + 60 * 0.03 + 200 * 0.004)
    m["golden"]["tolerance"] = 1e-6
    assert check_plugin(write_plugin(plugin_root, m, logistic_onnx(list(COEFS.values()),
                                                                   INTERCEPT)), settings).enabled


def test_higher_version_shadows_other_copy(settings, plugin_root, tmp_path):
    logistic_plugin(plugin_root)
    site = tmp_path / "site"
    write_plugin(site, logistic_manifest(version="1.1.0"),
                 logistic_onnx(list(COEFS.values()), INTERCEPT))
    s = dataclasses.replace(settings, site_plugin_dir=site)
    found = [p for p in discover_plugins(s) if p.id == "test-logistic"]
    assert [(p.origin, p.enabled) for p in found] == [("site", True), ("extra", False)]
    assert "shadowed by version 1.1.0" in found[1].problems[0]


# --- signatures -------------------------------------------------------------------------------


def _keypair(tmp_path, name):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    priv = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    pub = tmp_path / f"{name}.pub"
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return priv, pub


def _signed_plugin(plugin_root, priv):
    m = logistic_manifest()
    m["model"]["signature"] = "plugin.toml.sig"
    folder = write_plugin(plugin_root, m, logistic_onnx(list(COEFS.values()), INTERCEPT))
    integrity.sign_plugin(folder, priv)
    return folder


def test_signed_plugin_policy(settings, plugin_root, tmp_path):
    priv, pub = _keypair(tmp_path, "site")
    _, other_pub = _keypair(tmp_path, "other")
    folder = _signed_plugin(plugin_root, priv)
    strict = dataclasses.replace(settings, signed_plugins_only=True, trusted_keys=(pub,))
    p = check_plugin(folder, strict)
    assert p.enabled and p.signed and p.signer == str(pub)
    # signed by a key the site does not trust
    p = check_plugin(folder, dataclasses.replace(strict, trusted_keys=(other_pub,)))
    assert not p.enabled and "does not verify" in p.problems[0]
    # the manifest edited after signing (e.g. population widened)
    text = (folder / "plugin.toml").read_text().replace('"age_max" = 90', '"age_max" = 99')
    (folder / "plugin.toml").write_text(text)
    p = check_plugin(folder, strict)
    assert not p.enabled and "does not verify" in p.problems[0]


def test_unsigned_plugin_refused_when_site_requires_signatures(settings, plugin_root, tmp_path):
    _, pub = _keypair(tmp_path, "site")
    folder = logistic_plugin(plugin_root)
    assert check_plugin(folder, settings).enabled
    strict = dataclasses.replace(settings, signed_plugins_only=True, trusted_keys=(pub,))
    p = check_plugin(folder, strict)
    assert not p.enabled and "signed plugins only" in p.problems[0]


def test_garbage_signature_refused(settings, plugin_root, tmp_path):
    priv, pub = _keypair(tmp_path, "site")
    folder = _signed_plugin(plugin_root, priv)
    (folder / "plugin.toml.sig").write_text(base64.b64encode(b"x" * 64).decode())
    p = check_plugin(folder, dataclasses.replace(settings, trusted_keys=(pub,)))
    assert not p.enabled and "does not verify" in p.problems[0]


# --- install ----------------------------------------------------------------------------------


def _zip(folder, path, prefix="test-logistic/"):
    with zipfile.ZipFile(path, "w") as zf:
        for f in folder.iterdir():
            zf.write(f, prefix + f.name)
    return path


def test_install_valid_zip(settings, tmp_path):
    src = logistic_plugin(tmp_path / "src")
    p = install_plugin(_zip(src, tmp_path / "p.zip"), settings)
    assert p.enabled and p.origin == "user"
    assert (settings.user_plugin_dir / "test-logistic" / "model.onnx").is_file()
    assert not [x for x in settings.user_plugin_dir.iterdir() if x.name.startswith(".")]


def test_install_refuses_broken_plugin_and_leaves_nothing(settings, tmp_path):
    src = logistic_plugin(tmp_path / "src")
    (src / "model.onnx").write_bytes(b"tampered")
    with pytest.raises(PluginError, match="sha256 mismatch"):
        install_plugin(_zip(src, tmp_path / "p.zip"), settings)
    assert list(settings.user_plugin_dir.iterdir()) == []


def test_install_names_a_misspelt_manifest_key_without_the_staging_path(settings, tmp_path):
    src = logistic_plugin(tmp_path / "src")
    text = (src / "plugin.toml").read_text(encoding="utf-8")
    (src / "plugin.toml").write_text(text.replace("\nname =", "\nnmae =", 1), encoding="utf-8")
    with pytest.raises(PluginError) as info:
        install_plugin(_zip(src, tmp_path / "p.zip"), settings)
    message = info.value.message
    assert "nmae: invalid manifest: Extra inputs" in message and "name: Field required" in message
    assert ".install-" not in message and "and 1 more" not in message
    assert list(settings.user_plugin_dir.iterdir()) == []


def test_install_of_a_missing_file_says_so(settings, tmp_path):
    with pytest.raises(PluginError, match="no such file"):
        install_plugin(tmp_path / "nope.zip", settings)


def test_install_refuses_path_traversal(settings, tmp_path):
    src = logistic_plugin(tmp_path / "src")
    with pytest.raises(PluginError, match="unsafe path"):
        install_plugin(_zip(src, tmp_path / "p.zip", prefix="../../evil/"), settings)


def test_install_replaces_previous_version(settings, tmp_path):
    install_plugin(_zip(logistic_plugin(tmp_path / "a"), tmp_path / "a.zip"), settings)
    m = logistic_manifest(version="2.0.0")
    src = write_plugin(tmp_path / "b", m, logistic_onnx(list(COEFS.values()), INTERCEPT))
    p = install_plugin(_zip(src, tmp_path / "b.zip"), settings)
    assert p.manifest.version == "2.0.0"


def test_bundled_dir_lookup(monkeypatch, tmp_path):
    monkeypatch.setenv("ONCOBOARD_BUNDLED_PLUGINS", str(tmp_path))
    assert discovery.bundled_plugin_dir() == tmp_path
    monkeypatch.delenv("ONCOBOARD_BUNDLED_PLUGINS")
    found = discovery.bundled_plugin_dir()
    assert found is None or found.name == "plugins"


def test_dump_toml_roundtrip():
    import tomllib

    m = logistic_manifest()
    assert tomllib.loads(dump_toml(m)) == m


def test_sign_command_then_strict_policy_accepts(settings, plugin_root, tmp_path, capsys):
    from oncoboard.cli import main

    priv, pub = _keypair(tmp_path, "site")
    (tmp_path / "site.pem").write_bytes(priv)
    m = logistic_manifest()
    m["model"]["signature"] = "plugin.toml.sig"
    folder = write_plugin(plugin_root, m, logistic_onnx(list(COEFS.values()), INTERCEPT))
    assert main(["plugins", "sign", str(folder), "--key", str(tmp_path / "site.pem"),
                 "--data-dir", str(settings.data_dir)]) == 0
    assert "signed test-logistic" in capsys.readouterr().out
    strict = dataclasses.replace(settings, signed_plugins_only=True, trusted_keys=(pub,))
    assert check_plugin(folder, strict).enabled


def test_install_command_audits(settings, tmp_path, capsys):
    import json

    from oncoboard import audit
    from oncoboard.cli import main
    from oncoboard.store import open_store

    src = logistic_plugin(tmp_path / "src")
    code = main(["plugins", "install", str(_zip(src, tmp_path / "p.zip")), "--json",
                 "--data-dir", str(settings.data_dir)])
    assert code == 0 and json.loads(capsys.readouterr().out)["enabled"]
    s = open_store(settings.data_dir)
    [entry] = audit.entries(s, event_type="plugin.installed")
    assert entry.payload["plugin_id"] == "test-logistic" and verify_trail(s).ok
    s.close()


def test_invalid_scenario_value_refused(settings, plugin_root):
    m = logistic_manifest()
    m["scenarios"] = [{"name": "ECOG 7", "overrides": {"ecog": "7"}}]
    p = check_plugin(write_plugin(plugin_root, m, logistic_onnx(list(COEFS.values()),
                                                                INTERCEPT)), settings)
    assert not p.enabled and "scenario 'ECOG 7': ecog: '7' is not one of" in p.problems[0]
