"""Text evidence a clinician can trust: whole sentences, only those that moved the result, and
only notes in a language the model reads, told from the words of the note itself."""

from __future__ import annotations

import pytest
from inference_helpers import REF, text_onnx, write_plugin
from test_text_and_cli import _text_manifest

from oncoboard.inference import engine, explain
from oncoboard.inference.discovery import get_plugin
from oncoboard.patients.language import guess_language

GERMAN = ("Der Patient wurde am Tag 8 des Zyklus 2 mit Fieber aufgenommen. Die Behandlung wurde "
          "verschoben, er ist seit gestern ohne Schmerzen und hat keine Sepsis.")
ENGLISH = ("Seen today with his wife. ANC 0.2, temperature 39.1 at the visit. Fever since "
           "yesterday! The patient was admitted for sepsis and the treatment is on hold.")


def _spans(text):
    return [text[s:e] for s, e in explain.sentences(text)]


def test_a_decimal_point_or_an_abbreviation_does_not_end_a_sentence():
    assert _spans("ANC 0.2, temperature 39.1. No diarrhoea.") == [
        "ANC 0.2, temperature 39.1.", "No diarrhoea."]
    assert _spans("Seen by Dr. Martin, e.g. for fever. J. Smith agreed") == [
        "Seen by Dr. Martin, e.g. for fever.", "J. Smith agreed"]
    assert _spans("Fièvre à 38,5 ; PNN 0,4.\nAppel du médecin !") == [
        "Fièvre à 38,5 ;", "PNN 0,4.", "Appel du médecin !"]


@pytest.mark.parametrize(("text", "language"), [
    (ENGLISH, "en"), (GERMAN, "de"),
    ("Patiente vue ce jour avec son mari. Fièvre depuis hier, elle a été hospitalisée pour "
     "un sepsis et le traitement est suspendu.", "fr"),
    ("ANC 0.2, T 39.1", None),  # too few words to tell: the note's metadata decides
])
def test_the_language_is_read_from_the_words(text, language):
    assert guess_language(text).language == language


def _note(store, nid, lang, text, date="2024-02-27"):
    store.db["notes"].insert({"id": nid, "patient_id": "P1", "source_id": nid,
                              "note_type": "nursing", "date": date, "language": lang,
                              "text": text})


def test_a_note_written_in_german_is_left_out_whatever_its_metadata(store, settings,
                                                                    plugin_root):
    manifest = _text_manifest()
    manifest["explanation"]["max_sentences"] = 10
    write_plugin(plugin_root, manifest, text_onnx())
    _note(store, "en1", "en", ENGLISH)
    _note(store, "de-as-fr", "fr", GERMAN)   # filed as French, written in German
    _note(store, "de-unfiled", None, GERMAN)
    [doc] = [p.to_dict() for p in engine.predict_patient(
        store, settings, "P1", date=REF, plugin_ids=["test-text"], save=False)]
    assert [n["note_id"] for n in doc["inputs"]["notes"]["notes"]] == ["en1"]
    messages = [w["message"] for w in doc["warnings"] if w["code"] == "language"]
    assert any("2 note(s)" in m and "German 2" in m for m in messages), messages
    assert "Fieber" not in str(doc["warnings"])  # ids in messages, never the note's text


def test_only_sentences_that_moved_the_result_are_evidence(store, settings, plugin_root):
    manifest = _text_manifest()
    manifest["explanation"]["max_sentences"] = 10
    write_plugin(plugin_root, manifest, text_onnx())
    _note(store, "en1", "en", ENGLISH)
    [doc] = [p.to_dict() for p in engine.predict_patient(
        store, settings, "P1", date=REF, plugin_ids=["test-text"], save=False)]
    quoted = [ENGLISH[s["start"]:s["end"]] for s in doc["explanation"]["sentences"]]
    assert "Fever since yesterday!" in quoted
    assert "Seen today with his wife." not in quoted  # no word of the model: moved nothing
    assert "ANC 0.2, temperature 39.1 at the visit." not in quoted
    assert all(abs(s["delta"]) > explain.UNMOVED for s in doc["explanation"]["sentences"])


def test_calculator_refuses_text_in_a_language_the_model_does_not_read(settings, plugin_root):
    write_plugin(plugin_root, _text_manifest(), text_onnx())
    plugin = get_plugin(settings, "test-text")
    doc = engine.run_plugin(plugin, {"notes": GERMAN}, settings).to_dict()
    assert doc["status"] == "refused"
    assert any("written in German" in r and "English and French" in r for r in doc["refusal"])
    assert engine.run_plugin(plugin, {"notes": ENGLISH}, settings).status == "ok"
