"""The key image of a case: one axial slice through the tumour, windowed, with its contour.

The slice goes through the centre of the tumour mask (a GTV or similar structure from an
RTSTRUCT or SEG, rasterised on the series' grid) when there is one, else through the middle of
the series. The window is the series' soft-tissue preset for CT (mediastinum or abdomen), the
header window otherwise, else the 1st-99th percentile of the slice. The result is an RGB array
ready for the presenter screen and the PDF; nothing here needs Qt.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from oncoboard.errors import OncoboardError
from oncoboard.imaging.display import auto_window, window_to_uint8

if TYPE_CHECKING:
    from oncoboard.config import Settings
    from oncoboard.store import Store

log = logging.getLogger(__name__)

IMAGE_MODALITIES = ("CT", "MR", "PT")
_TUMOUR_WORDS = ("gtv", "tumour", "tumor", "lesion", "mass", "nodule", "tumeur")
_SOFT_TISSUE = ("mediastinum", "abdomen", "soft tissue", "soft-tissue", "mediastin")


@dataclass
class KeyImage:
    """A rendered key slice.

    Attributes
    ----------
    rgb
        ``(rows, columns, 3)`` uint8 picture with the contour drawn.
    series_uid, description, modality
        Where it comes from.
    slice_index, n_slices
        Which axial slice of how many.
    window
        (name, centre, width) applied.
    structure
        Name of the structure drawn, or '' when none.
    pixel_aspect
        Row spacing / column spacing, to draw pixels at their true shape.
    notes
        What a reader should know (no mask found, slice chosen at the middle, volume warnings).
    """

    rgb: NDArray[np.uint8]
    series_uid: str
    description: str
    modality: str
    slice_index: int
    n_slices: int
    window: tuple[str, float, float]
    structure: str = ""
    pixel_aspect: float = 1.0
    notes: list[str] = field(default_factory=list)
    sop_uid: str = ""       # the instance (or multi-frame instance) the slice comes from
    study_uid: str = ""

    def caption(self) -> str:
        """Return a one-line caption (series, slice, window, structure)."""
        name, centre, width = self.window
        parts = [f"{self.modality} {self.description}".strip(),
                 f"slice {self.slice_index + 1}/{self.n_slices}",
                 f"window {name} C{centre:g}/W{width:g}"]
        if self.structure:
            parts.append(f"contour: {self.structure}")
        return ", ".join(parts)


def contour_of(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Return the boundary pixels of a 2-D mask (inside pixels with an outside 4-neighbour)."""
    m = np.asarray(mask, dtype=bool)
    padded = np.pad(m, 1, constant_values=False)
    interior = (padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:])
    return np.asarray(m & ~interior, dtype=bool)


def choose_window(volume: Any, plane: NDArray[Any]) -> tuple[str, float, float]:
    """Return the display window for a key slice of `volume`."""
    presets = list(getattr(volume, "window_presets", []) or [])
    if volume.modality == "CT":
        for name, centre, width in presets:
            if any(word in name.lower() for word in _SOFT_TISSUE):
                return (name, float(centre), float(width))
        if not presets:
            return ("soft tissue", 40.0, 400.0)
    if presets:
        name, centre, width = presets[0]
        return (name, float(centre), float(width))
    return ("auto", *auto_window(plane))


def render_slice(volume: Any, mask: NDArray[np.bool_] | None, *, structure: str = "",
                 color: tuple[int, int, int] = (255, 40, 40)) -> KeyImage:
    """Render the key slice of `volume`, through the centre of `mask` when given."""
    n = volume.shape[0]
    notes: list[str] = []
    if mask is not None and mask.any():
        slices = np.nonzero(mask.any(axis=(1, 2)))[0]
        weights = mask[slices].sum(axis=(1, 2))
        index = int(round(float(np.average(slices, weights=weights))))
        if not mask[index].any():  # a mask in two pieces: keep a slice that shows it
            index = int(slices[np.argmax(weights)])
    else:
        index = n // 2
        notes.append("no tumour contour: middle slice shown" if mask is None
                     else "tumour contour is empty: middle slice shown")
        structure = "" if mask is None else structure
    plane = np.asarray(volume.voxels[index])
    window = choose_window(volume, plane)
    grey = window_to_uint8(plane, window[1], window[2])
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    if mask is not None and mask[index].any():
        edge = contour_of(mask[index])
        rgb[edge] = np.asarray(color, dtype=np.uint8)
    _, row_step, col_step = volume.spacing
    notes.extend(getattr(volume, "warnings", []) or [])
    sop_uids = (getattr(volume, "meta", None) or {}).get("sop_uids") or []
    return KeyImage(rgb, volume.series_uid, volume.description, volume.modality, index, n,
                    window, structure, float(row_step / col_step) if col_step else 1.0, notes,
                    sop_uid=str(sop_uids[index]) if index < len(sop_uids) else "",
                    study_uid=str(getattr(volume, "study_uid", "") or ""))


def _pick_structure(structures: list[Any]) -> Any | None:
    def score(s: Any) -> int:
        text = f"{s.name} {s.interpreted_type}".lower()
        return 2 if "gtv" in text else 1 if any(w in text for w in _TUMOUR_WORDS) else 0

    ranked = sorted(structures, key=score, reverse=True)
    return ranked[0] if ranked else None


def _pick_series(series: list[Any]) -> Any | None:
    images = [s for s in series if (s.modality or "").upper() in IMAGE_MODALITIES]
    if not images:
        return None
    # The newest study first, then CT before MR before PET, then the larger series.
    return sorted(images, key=lambda s: (s.study_date or "", -IMAGE_MODALITIES.index(
        s.modality.upper()), s.n_instances * max(s.n_frames, 1)), reverse=True)[0]


def key_image_for_patient(store: Store, patient_id: str,
                          settings: Settings | None = None) -> tuple[KeyImage | None, str]:
    """Return the patient's key image and a note ('' when fine, else why there is none)."""
    try:
        from oncoboard import imaging

        series = imaging.list_series(store, patient_id)
    except OncoboardError as exc:
        return None, f"images could not be listed: {exc.message}"
    chosen = _pick_series(series)
    if chosen is None:
        return None, "no CT, MR or PET series for this patient"
    try:
        volume = imaging.load_series(store, chosen.series_uid, settings=settings)
        structures = imaging.load_structures(store, chosen.series_uid)
        picked = _pick_structure(structures)
        mask = imaging.rasterise(picked, volume) if picked is not None else None
    except OncoboardError as exc:
        log.warning("key image for %s: %s", patient_id, exc.message)
        return None, f"series {chosen.series_uid} could not be loaded: {exc.message}"
    if picked is None:
        return render_slice(volume, None), ""
    return render_slice(volume, mask, structure=picked.name,
                        color=tuple(picked.color)), ""
