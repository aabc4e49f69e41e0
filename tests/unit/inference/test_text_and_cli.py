"""Text inputs with sentence-occlusion evidence, and the command line end to end."""

from __future__ import annotations

import json

import pytest
from inference_helpers import REF, logistic_plugin, text_onnx, write_plugin

from oncoboard.cli import main
from oncoboard.inference import engine


def predict_patient(*args, **kwargs):
    """Return the engine's predictions as documents (README, "Predictions JSON schema")."""
    return [p.to_dict() for p in engine.predict_patient(*args, **kwargs)]


def run_plugin(*args, **kwargs):
    """Return the engine's calculator-mode prediction as a document."""
    return engine.run_plugin(*args, **kwargs).to_dict()


def _text_manifest():
    return {
        "schema_version": 1, "id": "test-text", "name": "Test text model", "version": "0.1.0",
        "task": "toxicity", "intended_use": {"summary": "Tests only."},
        "population": {"description": "Anyone"},
        "training_data": {"source": "synthetic", "synthetic": True},
        "model": {"sha256": "0" * 64,
                  "inputs": [{"name": "text", "type": "text", "dtype": "string",
                              "shape": [-1, 1]}],
                  "outputs": [{"name": "probabilities", "dtype": "float32", "shape": [-1, 2]}]},
        "inputs": [{"kind": "text", "name": "notes", "tensor": "text",
                    "note_types": ["consultation", "nursing"], "window_days": 30,
                    "languages": ["en", "fr"]}],
        "outputs": [{"name": "hospitalisation", "kind": "probability", "tensor": "probabilities",
                     "column": 1}],
        "explanation": {"method": "none", "max_sentences": 2},
    }


def _add_notes(store):
    notes = [("n1", "consultation", "2024-02-20", "en",
              "Seen today. Patient well and walking. Fever since yesterday!"),
             ("n2", "nursing", "2024-02-27", "fr", "Pas de nausées. Sepsis suspectée; "
                                                    "appel du médecin."),
             ("n3", "radiology", "2024-02-27", "en", "Sepsis everywhere."),    # type not used
             ("n4", "nursing", "2023-01-01", "en", "Old fever."),              # outside window
             ("n5", "nursing", "2024-02-28", "de", "Fieber.")]                 # language
    for nid, kind, date, lang, text in notes:
        store.db["notes"].insert({"id": nid, "patient_id": "P1", "source_id": nid,
                                  "note_type": kind, "date": date, "language": lang,
                                  "text": text})


def test_text_sentences_that_moved_the_result(store, settings, plugin_root):
    write_plugin(plugin_root, _text_manifest(), text_onnx())
    _add_notes(store)
    [doc] = predict_patient(store, settings, "P1", date=REF, plugin_ids=["test-text"])
    assert doc["status"] == "ok"
    used = [n["note_id"] for n in doc["inputs"]["notes"]["notes"]]
    assert used == ["n1", "n2"]
    assert any(w["code"] == "language" for w in doc["warnings"])
    top = doc["explanation"]["sentences"]
    assert len(top) == 2
    notes = {"n1": "Seen today. Patient well and walking. Fever since yesterday!",
             "n2": "Pas de nausées. Sepsis suspectée; appel du médecin."}
    quoted = [notes[s["note_id"]][s["start"]:s["end"]] for s in top]
    assert quoted == ["Sepsis suspectée;", "Fever since yesterday!"]
    assert top[0]["delta"] > top[1]["delta"] > 0
    assert "Sepsis" not in json.dumps(doc["inputs"])  # the snapshot holds ids, not text


def test_text_missing_refuses(store, settings, plugin_root):
    write_plugin(plugin_root, _text_manifest(), text_onnx())
    [doc] = predict_patient(store, settings, "P2", date=REF, plugin_ids=["test-text"],
                                   save=False)
    assert doc["status"] == "refused" and "no note in the 30 days" in doc["refusal"][0]


def _cli(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_end_to_end(store, settings, plugin_root, tmp_path, capsys, monkeypatch):
    logistic_plugin(plugin_root)
    (plugin_root / "broken").mkdir()
    (plugin_root / "broken" / "plugin.toml").write_text("id = 'broken'")
    monkeypatch.setenv("ONCOBOARD_PLUGIN_PATH", str(plugin_root))
    data = ["--data-dir", str(settings.data_dir)]
    if store.url:
        monkeypatch.setenv("ONCOBOARD_DATABASE", store.url)
    store.close()

    code, out, _ = _cli(capsys, "plugins", "list", "--json", *data)
    listed = {p["id"]: p for p in json.loads(out)["plugins"]}
    assert code == 0 and listed["test-logistic"]["enabled"] and not listed["broken"]["enabled"]

    code, out, _ = _cli(capsys, "plugins", "verify", "test-logistic", *data)
    assert code == 0 and out.startswith("OK")
    code, out, _ = _cli(capsys, "plugins", "verify", *data)
    assert code == 1 and "FAIL broken" in out

    code, out, _ = _cli(capsys, "plugins", "run", "test-logistic", "--input", "age=63",
                        "--input", "ldh=300 U/L", "--input", "ecog=2", "--json", *data)
    doc = json.loads(out)
    assert code == 0 and doc["status"] == "ok" and doc["outputs"]["risk"]["value"] > 0.5

    csv = tmp_path / "rows.csv"
    csv.write_text("age;ldh;ecog\n63;300;2\n70;9000;1\n55;150;\n", encoding="utf-8")
    code, out, _ = _cli(capsys, "plugins", "run", "test-logistic", "--csv", str(csv), "--json",
                        *data)
    rows = json.loads(out)
    assert [r["status"] for r in rows] == ["ok", "refused", "ok"] and code == 1
    assert rows[2]["inputs"]["ecog"]["status"] == "imputed" and rows[1]["row"] == 2

    code, out, _ = _cli(capsys, "predict", "P1", "--date", REF.isoformat(), "--json", *data)
    [pred] = json.loads(out)
    assert code == 0 and pred["plugin"]["id"] == "test-logistic" and pred["id"]

    code, out, _ = _cli(capsys, "audit", "verify", "--json", *data)
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["entries"] == 1

    code, _, err = _cli(capsys, "predict", "NOPE", *data)
    assert code != 0 and "NOPE" in err
    code, _, err = _cli(capsys, "plugins", "run", "test-logistic", "--input", "age", *data)
    assert code == 2 and "NAME=VALUE" in err


def test_schema_command(capsys):
    code, out, _ = _cli(capsys, "plugins", "schema")
    schema = json.loads(out)
    assert code == 0
    assert schema["title"] == "Manifest" and "inputs" in schema["properties"]


@pytest.mark.parametrize("raw,ok", [("12,5", True), ("abc", False), ("nan", False)])
def test_number_parsing(settings, plugin_root, raw, ok):
    logistic_plugin(plugin_root)
    from oncoboard.inference.discovery import get_plugin

    doc = run_plugin(get_plugin(settings, "test-logistic"),
                            {"age": "63", "ldh": "300", "ecog": "1", **{"age": raw if ok else
                                                                         raw}}, settings)
    assert (doc["status"] == "refused") == (not ok or float(raw.replace(",", ".")) < 18)


def test_cli_run_csv_with_an_unclosed_quote_or_missing_file(settings, plugin_root, tmp_path,
                                                            capsys, monkeypatch):
    # '"74,gi' was read as age 74 in unit ',gi'; a missing file showed a Python errno.
    logistic_plugin(plugin_root)
    monkeypatch.setenv("ONCOBOARD_PLUGIN_PATH", str(plugin_root))
    data = ["--data-dir", str(settings.data_dir)]
    csv = tmp_path / "rows.csv"
    csv.write_text('age,ldh,ecog\n"63,300,2\n', encoding="utf-8")
    code, _out, err = _cli(capsys, "plugins", "run", "test-logistic", "--csv", str(csv), *data)
    assert code == 2 and err == f"oncoboard: error: {csv}: cannot read CSV: unexpected end of " \
        "data\n"
    code, _out, err = _cli(capsys, "plugins", "run", "test-logistic", "--csv",
                           str(tmp_path / "none.csv"), *data)
    assert code == 2 and err.endswith("none.csv: no such file\n")


def test_predict_text_output_uses_the_output_labels(capsys):
    from oncoboard.cli.plugins import _print_prediction
    from oncoboard.inference.prediction import Prediction

    doc = {"plugin": {"id": "lung-os", "version": "1.0.0"}, "status": "ok", "provider": "cpu",
           "warnings": [],
           "outputs": {"br_mortality": {"kind": "probability", "label": "Risk of death at 1 year",
                                        "display": True, "value": 0.25, "band": "low"},
                       "os": {"kind": "survival", "label": "Overall survival",
                              "display": True, "values": [0.9, 0.8], "times": [6, 12],
                              "time_unit": "months"},
                       "lo": {"kind": "probability", "label": "Lower bound", "display": False,
                              "value": 0.1},
                       "raw": {"kind": "score", "display": True, "value": 3.0}}}
    _print_prediction(Prediction.from_dict(doc))
    out = capsys.readouterr().out
    assert "Risk of death at 1 year: 25 %, risk group: low" in out
    assert "Overall survival at 12 months: 80 %" in out
    assert "br_mortality" not in out and " os " not in out and "Lower bound" not in out
    assert "raw: 3" in out  # no label: the name is all there is
