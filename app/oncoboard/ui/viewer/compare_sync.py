"""Keep two viewer states in step: cursor, window/level and zoom, through a series `Link`.

The current and the prior series each have their own :class:`ViewerState`. While linked, moving
the cursor in one moves it to the same anatomy in the other (patient coordinates, or the
registration's transform with the reader's offset), the window follows when both series are of
one modality, and zooming or panning one pane gives its partner the same field of view around its
crosshair. A link the core reports as not usable (``unregistered``, ``no_overlap``) never maps
anything: the panes then scroll independently.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from oncoboard.imaging.registration import Link
from oncoboard.ui.viewer.state import ViewerState


class CompareSync(QObject):
    """Link a current and a prior :class:`ViewerState`.

    Signals
    -------
    link_changed(object)
        A new `Link` is in use (after loading, registering or a manual offset).
    linked_changed(bool)
        The reader linked or unlinked the panes.
    """

    link_changed = Signal(object)
    linked_changed = Signal(bool)

    def __init__(self, current: ViewerState, prior: ViewerState,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.current, self.prior = current, prior
        self.link = Link("unregistered")
        self.enabled = True
        self._busy = False
        self._view_pairs: list[tuple[Any, Any]] = []
        current.cursor_changed.connect(self._on_current_cursor_changed)
        prior.cursor_changed.connect(self._on_prior_cursor_changed)
        current.window_changed.connect(lambda c, w: self._on_window_changed(self.prior, c, w))
        prior.window_changed.connect(lambda c, w: self._on_window_changed(self.current, c, w))

    @property
    def active(self) -> bool:
        """Return True when positions are mapped between the panes now."""
        return (self.enabled and self.link.linked and self.current.volume is not None
                and self.prior.volume is not None)

    @contextmanager
    def _guard(self) -> Iterator[None]:
        self._busy = True
        try:
            yield
        finally:
            self._busy = False

    def set_link(self, link: Link) -> None:
        """Use `link` from now on and bring the prior to the current cursor."""
        self.link = link
        self.link_changed.emit(link)
        self.sync_from_current()

    def set_enabled(self, on: bool) -> None:
        """Link (True) or unlink (False) the panes."""
        if on != self.enabled:
            self.enabled = on
            self.linked_changed.emit(on)
            self.sync_from_current()

    def sync_from_current(self) -> None:
        """Move the prior's cursor, window and zoom to match the current pane."""
        if not self.active:
            return
        self._on_current_cursor_changed(*self.current.cursor)
        self._on_window_changed(self.prior, self.current.centre, self.current.width)
        for a, _b in self._view_pairs:
            self._on_range_changed(a)

    def prior_index_of(self, index: Any) -> tuple[int, int, int]:
        """Return the prior's array index (clipped) of a current array index."""
        idx = self.link.to_prior_index(self.current.volume, self.prior.volume,
                                       np.asarray(index, dtype=np.float64))
        k, r, c = (int(v) for v in np.rint(idx))
        return k, r, c

    def _on_current_cursor_changed(self, k: int, r: int, c: int) -> None:
        if self._busy or not self.active:
            return
        with self._guard():
            self.prior.set_cursor(*self.prior_index_of((k, r, c)))

    def _on_prior_cursor_changed(self, k: int, r: int, c: int) -> None:
        if self._busy or not self.active:
            return
        idx = self.link.to_current_index(self.current.volume, self.prior.volume,
                                         np.array([k, r, c], dtype=np.float64))
        with self._guard():
            self.current.set_cursor(*(int(v) for v in np.rint(idx)))

    def _on_window_changed(self, other: ViewerState, centre: float, width: float) -> None:
        if self._busy or not self.enabled or other.volume is None:
            return
        source = self.current if other is self.prior else self.prior
        if source.volume is None or source.volume.modality != other.volume.modality:
            return
        with self._guard():
            other.set_window(centre, width)

    # --- zoom and pan ---------------------------------------------------------------------------
    def pair_views(self, current_view: Any, prior_view: Any) -> None:
        """Give `prior_view` the field of view of `current_view` and back (SliceViews)."""
        self._view_pairs.append((current_view, prior_view))
        current_view.vb.sigRangeChanged.connect(lambda *_a: self._on_range_changed(current_view))
        prior_view.vb.sigRangeChanged.connect(lambda *_a: self._on_range_changed(prior_view))

    def _partner(self, view: Any) -> Any:
        for a, b in self._view_pairs:
            if view is a:
                return b
            if view is b:
                return a
        return None

    def _on_range_changed(self, view: Any) -> None:
        partner = self._partner(view)
        if self._busy or not self.active or partner is None or not partner.isVisible():
            return
        (x0, x1), (y0, y1) = view.vb.viewRange()
        cx, cy = view.vline.value(), view.hline.value()
        px, py = partner.vline.value(), partner.hline.value()
        with self._guard():
            partner.vb.setRange(xRange=(px + x0 - cx, px + x1 - cx),
                                yRange=(py + y0 - cy, py + y1 - cy), padding=0.0)
