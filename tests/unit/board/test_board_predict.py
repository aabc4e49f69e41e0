"""Running the bundled models on every case of a meeting, dated the meeting's day."""

from __future__ import annotations

from oncoboard.board import caseview, meetings
from oncoboard.board.predict import predict_meeting
from oncoboard.config import Settings


def test_models_run_for_every_case_at_the_meeting_date(store, meeting, tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    seen = []
    runs = predict_meeting(store, settings, meeting.id, plugin_ids=["relapse-gbsg2"],
                           progress=lambda done, total, pid: seen.append((done, total, pid)))
    assert seen == [(1, 2, "BRC-001"), (2, 2, "BRC-002")]
    assert [r.patient_id for r in runs] == ["BRC-001", "BRC-002"]
    for run in runs:
        assert run.error is None and len(run.predictions) == 1
        pred = run.predictions[0]
        # The test patients lack most inputs: the engine stores a refusal, never a guess.
        assert pred.reference_date == "2026-11-23" and pred.status in ("ok", "refused")
        view = caseview.case_view(store, meeting.id, run.patient_id, with_image=False)
        assert [p.id for p in view.predictions] == [pred.id]
        assert run.describe().startswith(f"{run.patient_id}: relapse-gbsg2 {pred.status}")


def test_a_failing_case_does_not_stop_the_others(store, meeting, tmp_path):
    runs = predict_meeting(store, Settings(data_dir=tmp_path / "data"), meeting.id,
                           plugin_ids=["no-such-plugin"])
    assert [r.error for r in runs] == ["predict: no plugin 'no-such-plugin'"] * 2
    assert "error: predict: no plugin" in runs[0].describe()
    empty = meetings.create_meeting(store, date="2026-11-24", specialty="sein", title="Empty")
    assert predict_meeting(store, Settings(data_dir=tmp_path / "data"), empty.id) == []
