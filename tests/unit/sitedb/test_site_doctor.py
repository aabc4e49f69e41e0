"""`oncoboard doctor` on a site database: the login and its roles, TLS, the clock difference."""

from __future__ import annotations

import json
import time

from site_helpers import remember_password


def _checks(run, url, monkeypatch):
    monkeypatch.setenv("ONCOBOARD_DATABASE", url)
    code, out, err = run("doctor", "--json")
    return code, {c["name"]: c for c in json.loads(out)}


def test_doctor_names_the_login_its_roles_tls_and_the_clock(run, site_db, monkeypatch):
    server, name = site_db
    remember_password(server, "carol")
    _, checks = _checks(run, server.url(name, user="carol"), monkeypatch)
    assert checks["database"]["status"] == "ok"
    assert checks["site login"]["status"] == "ok"
    assert checks["site login"]["detail"].startswith("carol on database server 127.0.0.1:")
    assert checks["site login"]["data"]["roles"] == ["coordinator"]
    assert checks["site TLS"]["status"] == "warn"  # the test server has no certificate
    assert "TLS not in use" in checks["site TLS"]["detail"]
    assert checks["site clock"]["status"] == "ok"
    assert abs(checks["site clock"]["data"]["skew_s"]) < 2


def test_doctor_warns_of_a_clock_difference(run, site_db, monkeypatch):
    server, name = site_db
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - 30)  # this workstation 30 s late
    _, checks = _checks(run, server.url(name), monkeypatch)
    monkeypatch.setattr(time, "time", real)
    clock = checks["site clock"]
    assert clock["status"] == "warn" and "server clock 30.0 s ahead" in clock["detail"]
    assert "NTP" in clock["detail"]


def test_doctor_fails_a_login_without_a_role(run, site_db, monkeypatch):
    server, name = site_db
    remember_password(server, "nobody_in_particular")
    code, checks = _checks(run, server.url(name, user="nobody_in_particular"), monkeypatch)
    assert code == 1 and checks["site login"]["status"] == "fail"
    assert "holds no Oncoboard role" in checks["site login"]["detail"]


def test_doctor_has_no_site_checks_on_the_sqlite_file(run):
    code, out, _ = run("doctor", "--json")
    names = {c["name"] for c in json.loads(out)}
    assert "database" in names and not names & {"site login", "site TLS", "site clock"}
