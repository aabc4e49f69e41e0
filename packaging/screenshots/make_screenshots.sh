#!/usr/bin/env bash
# Regenerate the README's pictures: the demo cohort, its board's models run and one decision
# recorded, then `oncoboard gui --screenshot` of each main view (offscreen, no display needed).
#   bash packaging/screenshots/make_screenshots.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
out=packaging/screenshots
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
export QT_QPA_PLATFORM=offscreen ONCOBOARD_HOME=$data
ob=.venv/bin/oncoboard
$ob demo >/dev/null
$ob board predict 1 >/dev/null
day=$($ob board list --json | .venv/bin/python -c "import json,sys; print(json.load(sys.stdin)[0]['date'])")
$ob predict DEMO-BR-002 --date "$day" >/dev/null
$ob predict DEMO-CH-004 --date "$day" >/dev/null
$ob board decide 1 DEMO-LU-001 --plan "Thoracic radiotherapy 60 Gy / 30 fractions then consolidation durvalumab" \
  --rationale "Stage IIIC unresectable, ECOG 0, PD-L1 5 %" \
  --option "Radiotherapy then durvalumab" --option "Concurrent chemoradiotherapy" >/dev/null
shot() { $ob gui --screenshot "$out/$1.png" "${@:2}" 2>/dev/null; }
shot patient --view patient --patient DEMO-CH-004
shot viewer --view viewer --patient DEMO-LU-001
shot predictions --view predictions --patient DEMO-BR-002 --size 1600x1300
shot board --view board
.venv/bin/python - "$out/presenter.png" "$out/patients.png" <<'PY'
import sys
from oncoboard.config import load_settings
from oncoboard.store import open_store
from oncoboard.ui import app as ui_app
from oncoboard.ui.board_view import case_views_job
from oncoboard.ui.workers import Task

class Ctx:
    settings = load_settings(None)
    store = open_store(settings.db_path)
    log_file = None

app = ui_app.application()
window = ui_app.create_window(Ctx())
views = case_views_job(Task(lambda t: None), Ctx.settings.db_path, Ctx.settings, 1)
window.resize(1600, 1000)
window.show()
window.patients_view.search_notes("fievre")
app.processEvents()
window.grab().save(sys.argv[2])
print(sys.argv[2])
board = window.show_view("board")
board._on_case_views_ready(views)
board.presenter.showNormal()
board.presenter.resize(1600, 1000)
app.processEvents()
board.presenter.grab().save(sys.argv[1])
print(sys.argv[1])
PY
if command -v xvfb-run >/dev/null; then  # the 3D view needs an OpenGL window: Xvfb + Mesa
  QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python - "$out/viewer_3d.png" <<'PY'
import sys
from oncoboard.config import load_settings
from oncoboard.imaging import list_series, load_series, load_structures, rasterise
from oncoboard.store import open_store
from oncoboard.ui.app import application
from oncoboard.ui.viewer.state import ViewerState
from oncoboard.ui.viewer.volume3d import Volume3DPanel
from vtkmodules.vtkIOImage import vtkPNGWriter
from vtkmodules.vtkRenderingCore import vtkWindowToImageFilter

store = open_store(load_settings(None).db_path)
ct = next(s for s in list_series(store, "DEMO-LU-001") if s.modality == "CT")
volume = load_series(store, ct.series_uid)
overlays = [(s.name, rasterise(s, volume), s.color) for s in load_structures(store, ct.series_uid)]
app = application()
state = ViewerState()
panel = Volume3DPanel(state)
panel.resize(900, 700)
panel.show()
app.processEvents()
state.set_volume(volume, overlays)
assert panel.start(), panel.reason
panel.preset.setCurrentText("CT lung")
app.processEvents()
panel.redraw()
grab = vtkWindowToImageFilter()
grab.SetInput(panel.vtk_widget.GetRenderWindow())
writer = vtkPNGWriter()
writer.SetFileName(sys.argv[1])
writer.SetInputConnection(grab.GetOutputPort())
writer.Write()
panel.close_view()
print(sys.argv[1])
PY
fi
ls -la $out/*.png
