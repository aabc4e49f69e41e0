"""The French UI translation: complete, in step with the source strings, compiled."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET

from oncoboard.ui.i18n import update

TS = update.I18N_DIR / "oncoboard_fr.ts"


def _messages() -> dict[tuple[str, str], ET.Element]:
    out = {}
    for ctx in ET.parse(TS).getroot().iter("context"):
        for msg in ctx.iter("message"):
            out[(ctx.findtext("name") or "", msg.findtext("source") or "")] = msg.find(
                "translation")
    return out


def test_french_ts_has_no_unfinished_translation():
    missing = [key for key, tr_el in _messages().items()
               if tr_el is None or tr_el.get("type") == "unfinished" or not tr_el.text]
    assert not missing, (f"{len(missing)} untranslated string(s) in {TS.name}: {missing[:10]}; "
                         "run `python -m oncoboard.ui.i18n.update` and translate them")


def test_french_ts_holds_every_string_of_the_source():
    in_ts = set(_messages())
    new = [(c, s) for c, strings in update.extract().items() for s in strings
           if (c, s) not in in_ts]
    assert not new, f"strings missing from {TS.name}: {new[:10]}; run the i18n update"


def test_french_qm_is_compiled_from_the_ts(tmp_path):
    qm = tmp_path / "fr.qm"
    subprocess.run([update.lrelease(), "-silent", str(TS), "-qm", str(qm)], check=True)
    assert qm.read_bytes() == TS.with_suffix(".qm").read_bytes(), "recompile the .qm"


def test_french_patient_card_says_planned_in_french(app):  # noqa: ANN001
    from PySide6.QtCore import QCoreApplication

    from oncoboard.ui.app import install_language

    try:
        assert install_language("fr")
        assert QCoreApplication.translate("PatientView", "planned: {names}") == "prévu : {names}"
    finally:
        install_language("en")
