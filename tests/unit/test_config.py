"""Settings: precedence defaults < site < user < environment < --data-dir; clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from oncoboard.config import load_settings
from oncoboard.errors import ConfigError
from oncoboard.user_settings import save_user_settings


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Point the site and user files into tmp_path and clear every ONCOBOARD_ variable."""
    for name in ("ONCOBOARD_HOME", "ONCOBOARD_PROVIDERS", "ONCOBOARD_LANGUAGE",
                 "ONCOBOARD_PLUGIN_PATH"):
        monkeypatch.delenv(name, raising=False)
    site, user = tmp_path / "site.toml", tmp_path / "user.toml"
    monkeypatch.setenv("ONCOBOARD_SITE_CONFIG", str(site))
    monkeypatch.setenv("ONCOBOARD_USER_CONFIG", str(user))
    return site, user, monkeypatch


def test_defaults(env):
    s = load_settings()
    assert s.language == "en" and s.sources == ("defaults",)
    assert s.db_path == s.data_dir / "oncoboard.db"
    assert s.providers[-1] == "CPUExecutionProvider"


def test_precedence_site_user_env_cli(env, tmp_path):
    site, user, mp = env
    site.write_text('data_dir = "/srv/site"\nlanguage = "fr"\nlocal_port = 104\n'
                    'providers = ["CPUExecutionProvider"]\n', encoding="utf-8")
    s = load_settings()
    assert (s.data_dir, s.language, s.local_port) == (Path("/srv/site"), "fr", 104)
    user.write_text('data_dir = "/home/u/onco"\nlanguage = "en"\n', encoding="utf-8")
    s = load_settings()
    assert (s.data_dir, s.language, s.local_port) == (Path("/home/u/onco"), "en", 104)
    mp.setenv("ONCOBOARD_HOME", str(tmp_path / "env"))
    mp.setenv("ONCOBOARD_LANGUAGE", "fr")
    mp.setenv("ONCOBOARD_PROVIDERS", "CUDAExecutionProvider, CPUExecutionProvider")
    s = load_settings()
    assert (s.data_dir, s.language) == (tmp_path / "env", "fr")
    assert s.providers == ("CUDAExecutionProvider", "CPUExecutionProvider")
    s = load_settings(tmp_path / "cli")
    assert s.data_dir == tmp_path / "cli"
    assert s.sources == ("defaults", str(site), str(user), "ONCOBOARD_HOME",
                         "ONCOBOARD_PROVIDERS", "ONCOBOARD_LANGUAGE", "--data-dir")


def test_plugin_path_and_pacs_nodes(env, tmp_path):
    site, _, mp = env
    site.write_text('[dicom]\npatient_match = "patient_id+birth_date"\n\n[[pacs]]\n'
                    'name = "pacs1"\nae_title = "PACS"\nhost = "127.0.0.1"\nport = 4242\n',
                    encoding="utf-8")
    mp.setenv("ONCOBOARD_PLUGIN_PATH", f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    s = load_settings()
    assert s.extra_plugin_dirs == (tmp_path / "a", tmp_path / "b")
    assert s.patient_match == "patient_id+birth_date"
    assert s.pacs_node("pacs1").port == 4242
    with pytest.raises(ConfigError, match="unknown PACS node 'other' \\(known: pacs1\\)"):
        s.pacs_node("other")


@pytest.mark.parametrize(("text", "message"), [
    ("language = ", "invalid TOML"),
    ('colour = "blue"\n', "unknown setting 'colour'"),
    ('language = "de"\n', "language must be one of en, fr, not 'de'"),
    ('local_port = "eleven"\n', "local_port must be a whole number, not 'eleven'"),
    ('[dicom]\npatient_match = "name"\n', "dicom.patient_match must be one of"),
    ('[[pacs]]\nname = "x"\n', "pacs node #1"),
    ('[[pacs]]\nname = "x"\nae_title = "A"\nhost = "h"\nport = "1o4"\n',
     "pacs node #1: port '1o4' must be a whole number"),
    ('[[pacs]]\nname = "x"\nae_title = "A"\nhost = "h"\nport = true\n',
     "pacs node #1: port True must be a whole number"),
    ('[[pacs]]\nname = "x"\nae_title = "A"\nhost = "h"\nport = 104\ntimeout_s = "ten"\n',
     "pacs node #1: timeout_s 'ten' must be a number"),
    ('[[pacs]]\nname = "x"\nae_title = "A"\nhost = "h"\nport = 70000\n',
     "port 70000 must be between 1 and 65535"),
])
def test_bad_site_file_messages(env, text, message):
    site, _, _ = env
    site.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert message in info.value.message
    # every message names the file IT has to fix (language and local_port did not)
    assert info.value.message.startswith(str(site))


def test_pacs_port_given_as_text_is_read_as_a_number(env):
    site, _, _ = env
    site.write_text('[[pacs]]\nname = "x"\nae_title = "A"\nhost = "h"\nport = "104"\n',
                    encoding="utf-8")
    assert load_settings().pacs_node("x").port == 104


def test_bad_environment_value(env):
    _, _, mp = env
    mp.setenv("ONCOBOARD_LANGUAGE", "xx")
    with pytest.raises(ConfigError, match="^ONCOBOARD_LANGUAGE: language must be one of"):
        load_settings()


def test_save_user_settings_round_trip(env, tmp_path):
    _, user, _ = env
    path = save_user_settings({"language": "fr", "data_dir": str(tmp_path / "d")})
    assert path == user
    s = load_settings()
    assert (s.language, s.data_dir) == ("fr", tmp_path / "d")
    with pytest.raises(ConfigError, match="cannot change signed_plugins_only"):
        save_user_settings({"signed_plugins_only": False})
    with pytest.raises(ConfigError, match="language must be one of"):
        save_user_settings({"language": "zz"})
    assert load_settings().language == "fr"


def test_local_host_for_cmove_comes_from_the_site_file(tmp_path, monkeypatch):
    from oncoboard.config import load_settings

    site = tmp_path / "site-cmove.toml"
    site.write_text('local_host = "127.0.0.1"\nlocal_port = 11200\n', encoding="utf-8")
    monkeypatch.setenv("ONCOBOARD_SITE_CONFIG", str(site))
    monkeypatch.setenv("ONCOBOARD_USER_CONFIG", str(tmp_path / "none.toml"))
    s = load_settings(tmp_path / "data")
    assert (s.local_host, s.local_port) == ("127.0.0.1", 11200)


# --- security settings locked by the site -----------------------------------------------------


def test_site_security_settings_are_locked_against_user_file_and_env(env, tmp_path, caplog):
    site, user, mp = env
    site.write_text('signed_plugins_only = true\ntrusted_keys = ["/etc/oncoboard/site.pub"]\n'
                    'extra_plugin_dirs = []\naudit_key_file = "/etc/oncoboard/audit.key"\n',
                    encoding="utf-8")
    user.write_text('signed_plugins_only = false\ntrusted_keys = ["/home/u/mine.pub"]\n'
                    'extra_plugin_dirs = ["/home/u/plugins"]\naudit_key_file = "/tmp/k"\n'
                    'language = "fr"\n', encoding="utf-8")
    mp.setenv("ONCOBOARD_PLUGIN_PATH", str(tmp_path / "rogue"))
    s = load_settings()
    assert s.signed_plugins_only is True
    assert s.trusted_keys == (Path("/etc/oncoboard/site.pub"),)
    assert s.extra_plugin_dirs == ()
    assert s.audit_key_file == Path("/etc/oncoboard/audit.key")
    assert s.language == "fr"  # not a security setting: the user may change it
    refused = " ".join(s.refused)
    for key in ("signed_plugins_only", "trusted_keys", "extra_plugin_dirs", "audit_key_file"):
        assert f"tried to change {key}" in refused
    assert "ONCOBOARD_PLUGIN_PATH tried to change extra_plugin_dirs" in refused
    assert {"signed_plugins_only", "trusted_keys", "extra_plugin_dirs"} <= s.locked


def test_user_may_tighten_but_not_loosen_and_unset_site_keys_stay_free(env, tmp_path):
    site, user, mp = env
    site.write_text("signed_plugins_only = false\n", encoding="utf-8")
    user.write_text('signed_plugins_only = true\ntrusted_keys = ["/home/u/k.pub"]\n',
                    encoding="utf-8")
    mp.setenv("ONCOBOARD_PLUGIN_PATH", str(tmp_path / "p"))
    s = load_settings()
    assert s.signed_plugins_only and s.trusted_keys == (Path("/home/u/k.pub"),)
    assert s.extra_plugin_dirs == (tmp_path / "p",) and s.refused == ()


def test_refused_override_is_logged_and_shown_by_doctor(env, tmp_path, capsys):
    from oncoboard import cli
    from oncoboard.doctor import WARN, check_security

    site, user, mp = env
    site.write_text("signed_plugins_only = true\n", encoding="utf-8")
    user.write_text("signed_plugins_only = false\n", encoding="utf-8")
    mp.setenv("ONCOBOARD_BUNDLED_PLUGINS", str(tmp_path / "none"))
    check = check_security(load_settings(tmp_path / "data"))
    assert check.status == WARN and "tried to change signed_plugins_only" in check.detail
    assert cli.main(["plugins", "list", "--data-dir", str(tmp_path / "data")]) == 0
    log = (tmp_path / "data" / "logs" / "oncoboard.log").read_text(encoding="utf-8")
    assert "tried to change signed_plugins_only, which the site configuration locks" in log


def test_a_kerberos_site_database_signs_in_by_gssapi_only(env):
    site, user, _ = env
    site.write_text('[database]\nurl = "postgresql://db.example/oncoboard"\n'
                    'ca = "/etc/oncoboard/ca.pem"\nauth = "kerberos"\n', encoding="utf-8")
    s = load_settings()
    assert s.database_auth == "kerberos"
    assert s.store_target == ("postgresql://db.example/oncoboard?sslmode=verify-full&"
                              "sslrootcert=/etc/oncoboard/ca.pem&require_auth=gss&"
                              "gssencmode=prefer")
    # the site may set libpq's own options in the URL: they are kept
    site.write_text('[database]\nurl = "postgresql://db.example/oncoboard?gssencmode=require"\n'
                    'auth = "kerberos"\n', encoding="utf-8")
    assert load_settings().store_target == ("postgresql://db.example/oncoboard?"
                                            "gssencmode=require&require_auth=gss")
    # a user's file cannot go back to passwords: the site locks it
    user.write_text('[database]\nauth = "password"\n', encoding="utf-8")
    s = load_settings()
    assert s.database_auth == "kerberos" and any("database_auth" in r for r in s.refused)
    site.write_text('[database]\nurl = "postgresql://db.example/oncoboard"\nauth = "ntlm"\n',
                    encoding="utf-8")
    user.unlink()
    with pytest.raises(ConfigError, match="auth must be one of 'password', 'kerberos'") as caught:
        load_settings()
    assert "site.toml" in str(caught.value)
