"""The viewer's shared state: the volume on screen, the cursor, the window, tool and overlays.

The three slice views and the 3D view observe one :class:`ViewerState`; a click in one view moves
the cursor and the others follow (linked views).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import QObject, Signal

from oncoboard.imaging import display


class ViewerState(QObject):
    """What the viewer shows.

    Signals
    -------
    volume_changed()
        A new volume (and its overlays) replaced the previous one.
    cursor_changed(int, int, int)
        The cursor moved to array index (slice, row, column).
    window_changed(float, float)
        The display window is now (centre, width).
    overlays_changed()
        Overlays were added or toggled.
    tool_changed(str)
        The mouse tool is now one of ``TOOLS``.
    hovered(object)
        The mouse is over fractional index (slice, row, column) (a tuple) or None.
    volume_completed()
        Every slice of the volume on screen is here now (it was shown with some missing).

    While slices are missing (`pending`, an object with ``has_slice(k)``), views draw what has
    arrived, the readout and measurements say which slices are still loading, and the 3D view
    waits.
    """

    TOOLS = ("window", "pan", "distance", "roi")
    volume_changed = Signal()
    cursor_changed = Signal(int, int, int)
    window_changed = Signal(float, float)
    overlays_changed = Signal()
    tool_changed = Signal(str)
    hovered = Signal(object)
    volume_completed = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.volume: Any = None
        self.pending: Any = None
        self.cursor = [0, 0, 0]
        self.centre, self.width = 40.0, 400.0
        self.tool = "window"
        self.presets: list[tuple[str, float, float]] = []
        #: name -> (mask shaped like the voxels, colour, visible)
        self.overlays: dict[str, tuple[NDArray[np.bool_], tuple[int, int, int], bool]] = {}

    def set_volume(self, volume: Any, overlays: Sequence[tuple[str, NDArray[np.bool_],
                                                               tuple[int, int, int]]] = (),
                   pending: Any = None) -> None:
        """Show `volume` with its overlays; the cursor goes to the centre, window to a preset.

        `pending` (``has_slice(k)``) when some slices are still being decoded or fetched: call
        `complete_volume` once they are all here.
        """
        self.volume = volume
        self.pending = pending
        self.overlays = {}
        for name, mask, colour in overlays:
            if mask is not None and mask.shape == volume.voxels.shape:
                self.overlays[name] = (mask, tuple(colour), True)  # type: ignore[assignment]
        self.cursor = [s // 2 for s in volume.shape]
        centre = self.overlay_centre()
        if centre is not None:
            self.cursor = list(centre)
        self.presets = self._presets()
        preferred = [p for p in self.presets if p[0] in ("Mediastinum", "Auto")]
        _name, self.centre, self.width = (preferred or self.presets)[0]
        self.volume_changed.emit()
        self.window_changed.emit(self.centre, self.width)
        self.cursor_changed.emit(*self.cursor)

    def _presets(self) -> list[tuple[str, float, float]]:
        """Return the volume's presets; an automatic window from the slices already here."""
        here = None
        if self.pending is not None:
            here = [k for k in range(self.volume.shape[0]) if self.pending.has_slice(k)]
        return display.presets_for(self.volume, slices=here or None)

    def slice_ready(self, k: int) -> bool:
        """Return True when slice `k` (along the slice axis) is on screen with its values."""
        if self.pending is None or not 0 <= int(k) < self.volume.shape[0]:
            return True
        return bool(self.pending.has_slice(int(k)))

    def complete_volume(self) -> None:
        """Every slice is here: presets from the whole volume, views redrawn, 3D may render."""
        if self.volume is None:
            return
        self.pending = None
        old = next((p for p in self.presets if p[0] == "Auto"), None)
        self.presets = self._presets()
        self.volume_completed.emit()
        auto = next((p for p in self.presets if p[0] == "Auto"), None)
        if auto and old and (self.centre, self.width) == old[1:]:
            self.set_window(auto[1], auto[2])  # the automatic window, of every slice now

    def clear(self) -> None:
        """Show nothing (another patient was opened: never leave their images on screen)."""
        self.volume = None
        self.pending = None
        self.overlays = {}
        self.presets = []
        self.volume_changed.emit()

    def overlay_centre(self) -> tuple[int, int, int] | None:
        """Return the centre of mass of the first overlay (to open on the tumour), or None."""
        for mask, _colour, _visible in self.overlays.values():
            idx = np.argwhere(mask)
            if idx.size:
                k, r, c = np.round(idx.mean(axis=0)).astype(int)
                return int(k), int(r), int(c)
        return None

    def set_cursor(self, k: int, r: int, c: int) -> None:
        """Move the cursor (clipped to the volume)."""
        if self.volume is None:
            return
        shape = self.volume.shape
        new = [int(np.clip(v, 0, n - 1)) for v, n in zip((k, r, c), shape, strict=True)]
        if new != self.cursor:
            self.cursor = new
            self.cursor_changed.emit(*new)

    def step(self, axis: int, delta: int) -> None:
        """Move the cursor `delta` planes along array `axis` (scrolling)."""
        pos = list(self.cursor)
        pos[axis] += delta
        self.set_cursor(*pos)

    def set_window(self, centre: float, width: float) -> None:
        """Set the display window (width at least 1)."""
        width = max(1.0, float(width))
        if (centre, width) != (self.centre, self.width):
            self.centre, self.width = float(centre), width
            self.window_changed.emit(self.centre, self.width)

    def apply_preset(self, name: str) -> bool:
        """Set the window of preset `name`; return False if the volume has no such preset."""
        for preset_name, centre, width in self.presets:
            if preset_name == name:
                self.set_window(centre, width)
                return True
        return False

    def set_tool(self, tool: str) -> None:
        """Choose the mouse tool."""
        if tool not in self.TOOLS:
            raise ValueError(tool)
        self.tool = tool
        self.tool_changed.emit(tool)

    def set_overlay_visible(self, name: str, visible: bool) -> None:
        """Show or hide one overlay."""
        mask, colour, _ = self.overlays[name]
        self.overlays[name] = (mask, colour, visible)
        self.overlays_changed.emit()

    def value_at(self, k: int, r: int, c: int) -> float:
        """Return the voxel value (HU for CT) at an array index."""
        return float(self.volume.voxels[k, r, c])
