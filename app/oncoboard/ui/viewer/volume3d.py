"""The 3D view (VTK, embedded): volume rendering presets and the segmentation as a surface.

VTK is imported only when the user opens the 3D view. It needs an OpenGL window: with Qt's
``offscreen`` platform it cannot render, so the panel says why and the 2D viewer keeps working.
Large volumes are decimated to at most ``MAX_DIM`` voxels a side so software OpenGL (Mesa) stays
interactive.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from oncoboard.ui.viewer.state import ViewerState

log = logging.getLogger(__name__)
MAX_DIM = 160
#: name -> list of (value, r, g, b, opacity) control points; values in HU (CT) or auto-scaled.
PRESETS: dict[str, list[tuple[float, float, float, float, float]]] = {
    "CT bone": [(-1000, 0, 0, 0, 0), (150, 0.9, 0.6, 0.4, 0), (300, 1, 0.95, 0.85, 0.35),
                (1500, 1, 1, 1, 0.85)],
    "CT soft tissue": [(-1000, 0, 0, 0, 0), (-200, 0.5, 0.3, 0.2, 0), (40, 0.9, 0.5, 0.4, 0.15),
                       (300, 1, 0.9, 0.8, 0.5), (1500, 1, 1, 1, 0.8)],
    "CT lung": [(-1000, 0, 0, 0, 0), (-850, 0.4, 0.6, 0.9, 0.05), (-500, 0.7, 0.8, 1, 0.12),
                (-200, 0, 0, 0, 0), (1500, 1, 1, 1, 0.05)],
    "MIP": [],
}


def tr(text: str) -> str:
    """Translate `text` in the 3D view's context."""
    return QCoreApplication.translate("Volume3DPanel", text)


def preset_label(name: str) -> str:
    """Return the translated name of 3D preset `name`."""
    labels = {"CT bone": tr("CT bone"), "CT soft tissue": tr("CT soft tissue"),
              "CT lung": tr("CT lung"), "MIP": tr("MIP")}
    return labels.get(name, name)


_CHEST = ("CHEST", "THORAX", "LUNG", "THORAC", "POUMON", "PULM", "MEDIASTIN")
_BONE = ("BONE", "SKELET", "SPINE", "RACHIS", "OSSEUX", "EXTREMIT", "HIP", "KNEE", "SHOULDER")


def default_preset(volume: Any) -> str:
    """Return the 3D preset that suits `volume`, by modality and body part.

    A chest CT opens on the lungs, a bone or spine CT on bone, another CT on soft tissue, and
    an MR, PET or other series as a maximum intensity projection (the usual view of a breast
    MR). The body part is DICOM's BodyPartExamined where the volume carries it, else words of
    the series description ("Thorax 3.75 mm").
    """
    meta = getattr(volume, "meta", None) or {}
    text = " ".join(str(x) for x in (meta.get("body_part"), getattr(volume, "description", ""))
                    if x).upper()
    if getattr(volume, "modality", "") != "CT":
        return "MIP"
    if any(word in text for word in _CHEST):
        return "CT lung"
    if any(word in text for word in _BONE):
        return "CT bone"
    return "CT soft tissue"


def unavailable_reason() -> str | None:
    """Return why 3D cannot start in this session, or None if it can try."""
    platform = QGuiApplication.platformName()
    if platform in ("offscreen", "minimal"):
        return tr("3D view unavailable: Qt's '{p}' platform has no OpenGL window. Run Oncoboard "
                  "on a desktop (or under Xvfb with QT_QPA_PLATFORM=xcb).").format(p=platform)
    return None


class Volume3DPanel(QWidget):
    """Starts VTK on demand and renders the viewer's volume and overlays.

    Signals
    -------
    started(bool)
        3D started (True) or could not start (False; `reason` says why).
    """

    started = Signal(bool)

    def __init__(self, state: ViewerState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.vtk_widget: Any = None
        self.renderer: Any = None
        self.reason: str | None = None
        self.message = QLabel(tr("3D rendering starts on demand."), objectName="muted")
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.start_button = QPushButton(tr("Show 3D"), objectName="start3d")
        self.preset = QComboBox(objectName="preset3d")
        for name in PRESETS:
            self.preset.addItem(preset_label(name), name)
        self.preset.setEnabled(False)
        top = QHBoxLayout()
        top.addWidget(self.start_button)
        top.addWidget(self.preset, 1)
        self.lay = QVBoxLayout(self)
        self.lay.setContentsMargins(0, 0, 0, 0)
        self.lay.addLayout(top)
        self.lay.addWidget(self.message, 1)
        self.start_button.clicked.connect(self.start)
        self.preset.currentIndexChanged.connect(
            lambda _i: self._on_preset_changed(self.preset.currentData()))
        state.volume_changed.connect(self._on_volume_changed)
        state.volume_completed.connect(self._on_volume_changed)

    def start(self) -> bool:
        """Create the VTK view (once); return False and show the reason if it cannot start."""
        if self.vtk_widget is not None:
            return True
        self.reason = unavailable_reason()
        if self.reason is None:
            try:
                self._create()
            except Exception as exc:  # noqa: BLE001 - any VTK/GL failure leaves 2D working
                log.warning("3D view could not start: %s", exc, exc_info=True)
                self.reason = tr("3D view could not start: {e}").format(e=exc)
        if self.reason is not None:
            self.message.setText(self.reason)
            self.start_button.setEnabled(False)
            self.started.emit(False)
            return False
        self.message.hide()
        self.start_button.hide()
        self.preset.setEnabled(True)
        self._on_volume_changed()
        self.started.emit(True)
        return True

    def _create(self) -> None:
        import vtkmodules.qt

        vtkmodules.qt.PyQtImpl = "PySide6"
        import vtkmodules.vtkInteractionStyle  # noqa: F401 - registers the trackball style
        import vtkmodules.vtkRenderingOpenGL2  # noqa: F401 - registers the OpenGL back end
        import vtkmodules.vtkRenderingVolumeOpenGL2  # noqa: F401
        from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor
        from vtkmodules.vtkRenderingCore import vtkRenderer

        self.vtk_widget = QVTKRenderWindowInteractor(self)
        self.renderer = vtkRenderer()
        self.renderer.SetBackground(0.106, 0.125, 0.153)
        self.vtk_widget.GetRenderWindow().AddRenderer(self.renderer)
        self.lay.addWidget(self.vtk_widget, 1)
        self.vtk_widget.Initialize()

    def _image_data(self, array: np.ndarray, step: int, spacing: tuple[float, ...]) -> Any:
        from vtkmodules.util import numpy_support
        from vtkmodules.vtkCommonDataModel import vtkImageData

        sub = np.ascontiguousarray(array[::step, ::step, ::step])
        image = vtkImageData()
        # VTK's x runs fastest: (column, row, slice) of our (slice, row, column) array
        image.SetDimensions(sub.shape[2], sub.shape[1], sub.shape[0])
        image.SetSpacing(spacing[2] * step, spacing[1] * step, spacing[0] * step)
        affine = self.state.volume.affine
        directions = affine[:3, :3] / np.linalg.norm(affine[:3, :3], axis=0)
        image.SetDirectionMatrix(*directions[:, [2, 1, 0]].ravel().tolist())
        image.SetOrigin(*affine[:3, 3].tolist())
        image.GetPointData().SetScalars(numpy_support.numpy_to_vtk(sub.ravel(), deep=True))
        return image

    def _on_volume_changed(self) -> None:
        if self.state.volume is not None:  # a new series: the preset that suits it
            self.preset.blockSignals(True)
            self.preset.setCurrentIndex(self.preset.findData(default_preset(self.state.volume)))
            self.preset.blockSignals(False)
        if self.renderer is None:
            return
        if self.state.volume is None or self.state.pending is not None:
            self.renderer.RemoveAllViewProps()
            self.redraw()
            if self.state.pending is not None:  # rendered once every slice is here
                self.message.setText(tr("3D waits until every slice is loaded…"))
                self.message.show()
            return
        self.message.hide()
        from vtkmodules.vtkRenderingCore import vtkVolume, vtkVolumeProperty
        from vtkmodules.vtkRenderingVolumeOpenGL2 import vtkSmartVolumeMapper

        vol = self.state.volume
        step = max(1, int(np.ceil(max(vol.shape) / MAX_DIM)))
        self.renderer.RemoveAllViewProps()
        voxels = vol.voxels.astype(np.float32) if vol.voxels.dtype != np.float32 else vol.voxels
        self.mapper = vtkSmartVolumeMapper()
        self.mapper.SetInputData(self._image_data(voxels, step, vol.spacing))
        self.volume_property = vtkVolumeProperty()
        self.volume_property.ShadeOn()
        self.volume_property.SetInterpolationTypeToLinear()
        self.actor = vtkVolume()
        self.actor.SetMapper(self.mapper)
        self.actor.SetProperty(self.volume_property)
        self.renderer.AddVolume(self.actor)
        for _name, (mask, colour, visible) in self.state.overlays.items():
            if visible:
                self._add_surface(mask, colour, step, vol.spacing)
        self._on_preset_changed(self.preset.currentData())
        self.anterior_view()

    def anterior_view(self) -> None:
        """Look at the patient from the front, head up (patient's left on the screen's right)."""
        self.renderer.ResetCamera()
        camera = self.renderer.GetActiveCamera()
        x, y, z = camera.GetFocalPoint()
        distance = camera.GetDistance()
        camera.SetPosition(x, y - distance, z)  # LPS: anterior is -y
        camera.SetViewUp(0.0, 0.0, 1.0)
        self.renderer.ResetCamera()

    def _add_surface(self, mask: np.ndarray, colour: tuple[int, int, int], step: int,
                     spacing: tuple[float, ...]) -> None:
        from vtkmodules.vtkFiltersCore import vtkFlyingEdges3D, vtkWindowedSincPolyDataFilter
        from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper

        surface = vtkFlyingEdges3D()
        surface.SetInputData(self._image_data(mask.astype(np.uint8) * 100, step, spacing))
        surface.SetValue(0, 50)
        smooth = vtkWindowedSincPolyDataFilter()
        smooth.SetInputConnection(surface.GetOutputPort())
        smooth.SetNumberOfIterations(15)
        mapper = vtkPolyDataMapper()
        mapper.SetInputConnection(smooth.GetOutputPort())
        mapper.ScalarVisibilityOff()
        actor = vtkActor()
        actor.SetMapper(mapper)
        actor.GetProperty().SetColor(*(v / 255 for v in colour))
        self.renderer.AddActor(actor)

    def _on_preset_changed(self, name: str) -> None:
        if self.renderer is None or not hasattr(self, "volume_property"):
            return
        from vtkmodules.vtkCommonDataModel import vtkPiecewiseFunction
        from vtkmodules.vtkRenderingCore import vtkColorTransferFunction

        points = PRESETS.get(name, [])
        colour, opacity = vtkColorTransferFunction(), vtkPiecewiseFunction()
        if not points:  # MIP: grey ramp over the display window
            self.mapper.SetBlendModeToMaximumIntensity()
            lo = self.state.centre - self.state.width / 2
            points = [(lo, 0, 0, 0, 0), (lo + self.state.width, 1, 1, 1, 1)]
        else:
            self.mapper.SetBlendModeToComposite()
        if self.state.volume.modality != "CT" and name != "MIP":
            lo = self.state.centre - self.state.width / 2
            points = [(lo + (v + 1000) / 2500 * self.state.width, r, g, b, a)
                      for v, r, g, b, a in points]
        for value, r, g, b, a in points:
            colour.AddRGBPoint(value, r, g, b)
            opacity.AddPoint(value, a)
        self.volume_property.SetColor(colour)
        self.volume_property.SetScalarOpacity(opacity)
        self.redraw()

    def redraw(self) -> None:
        """Redraw the 3D view."""
        if self.vtk_widget is not None:
            self.vtk_widget.GetRenderWindow().Render()

    def close_view(self) -> None:
        """Release the VTK widget (close rather than Finalize: see MEASURED.md)."""
        if self.vtk_widget is not None:
            self.vtk_widget.close()
            self.vtk_widget = None
            self.renderer = None
