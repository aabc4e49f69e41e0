"""Link a current series to a prior one: shared Frame of Reference, or a rigid registration.

Two series acquired in one Frame of Reference (same FrameOfReferenceUID) share their patient
coordinates: a point in one is the same anatomy in the other, no registration is needed.
Follow-up studies usually have their own Frame of Reference (another day, another table
position): their coordinates are unrelated, and `register_rigid` finds the rigid transform
(rotation + translation) from the current series' patient coordinates to the prior's, with
SimpleITK (Mattes mutual information, multi-resolution, an Euler transform started from the
centres of the two bodies). Nothing is ever linked silently: a pair whose extents do not overlap
(same Frame of Reference), or whose registration finds no convincing overlap, gets a `Link` of
mode ``"no_overlap"`` with the reason, and the viewer shows it unlinked.

`RegistrationCache` keeps results in the data folder's ``cache/registration/``, keyed by both
series UIDs and a digest of both volumes' voxels and geometry (a changed series registers again).
A manual offset (mm, in the prior's coordinates) corrects a registration the reader disagrees
with; it is kept with the cached result.

Convention: every transform here maps the **current** series' LPS millimetres to the
**prior**'s (``prior_point = matrix @ [x, y, z, 1]``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oncoboard.errors import OncoboardError
from oncoboard.imaging.volume import Volume

log = logging.getLogger(__name__)

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]
CACHE_VERSION = 1
#: A registered pair is linked only if this fraction of the current series lies in the prior...
MIN_OVERLAP = 0.25
#: ...and the two images agree this well there (normalised cross-correlation, -1 to 1).
MIN_SIMILARITY = 0.5
#: Voxels are binned towards this size (mm) before registering.
WORK_SPACING_MM = 2.5


class RegistrationError(OncoboardError):
    """The registration could not run (unusable geometry, SimpleITK failure)."""


class RegistrationCancelled(RegistrationError):
    """The user cancelled the registration."""


@dataclass(frozen=True)
class RigidTransform:
    """A rigid map from the current series' LPS mm to the prior's, as a 4x4 matrix."""

    matrix: tuple[tuple[float, ...], ...] = tuple(tuple(r) for r in np.eye(4).tolist())

    @classmethod
    def from_matrix(cls, matrix: NDArray[Any]) -> RigidTransform:
        """Return the transform of a 4x4 matrix."""
        m = np.asarray(matrix, dtype=np.float64)
        if m.shape != (4, 4):
            raise ValueError(f"a rigid transform is 4x4, not {m.shape}")
        return cls(tuple(tuple(float(v) for v in row) for row in m))

    @classmethod
    def from_euler(cls, angles_deg: tuple[float, float, float],
                   translation_mm: tuple[float, float, float],
                   centre: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> RigidTransform:
        """Return the rotation about x, then y, then z (degrees) around `centre`, then a shift."""
        ax, ay, az = np.radians(angles_deg)
        rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
        ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
        rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
        rot = rz @ ry @ rx
        c = np.asarray(centre, dtype=np.float64)
        m = np.eye(4)
        m[:3, :3] = rot
        m[:3, 3] = c - rot @ c + np.asarray(translation_mm, dtype=np.float64)
        return cls.from_matrix(m)

    @property
    def array(self) -> NDArray[np.float64]:
        """Return the 4x4 matrix as an array."""
        return np.array(self.matrix, dtype=np.float64)

    def apply(self, points: NDArray[Any]) -> NDArray[np.float64]:
        """Map LPS points ``(..., 3)`` of the current series to the prior's."""
        m = self.array
        pts = np.asarray(points, dtype=np.float64)
        return np.asarray(pts @ m[:3, :3].T + m[:3, 3], dtype=np.float64)

    def inverse(self) -> RigidTransform:
        """Return the map from the prior's LPS mm to the current's."""
        return RigidTransform.from_matrix(np.linalg.inv(self.array))

    def shifted(self, offset_mm: tuple[float, float, float]) -> RigidTransform:
        """Return this transform followed by a translation of `offset_mm` (prior LPS)."""
        m = self.array
        m[:3, 3] += np.asarray(offset_mm, dtype=np.float64)
        return RigidTransform.from_matrix(m)

    @property
    def rotation_degrees(self) -> float:
        """Return the angle of the rotation part (degrees, 0-180)."""
        rot = self.array[:3, :3]
        cos = (float(np.trace(rot)) - 1.0) / 2.0
        return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


@dataclass
class RegistrationResult:
    """What `register_rigid` found, with the checks that decide whether to link."""

    transform: RigidTransform
    overlap: float
    similarity: float
    metric: float = float("nan")
    seconds: float = 0.0
    iterations: int = 0
    stop_reason: str = ""
    offset_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def ok(self) -> bool:
        """Return True when the result is good enough to link the two series."""
        return self.overlap >= MIN_OVERLAP and self.similarity >= MIN_SIMILARITY

    @property
    def corrected(self) -> RigidTransform:
        """Return the transform with the reader's manual offset applied."""
        return self.transform.shifted(self.offset_mm)

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        out = asdict(self)
        out["transform"] = [list(r) for r in self.transform.matrix]
        out["offset_mm"] = list(self.offset_mm)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RegistrationResult:
        """Return the result stored by `to_json`."""
        values = dict(data)
        values["transform"] = RigidTransform.from_matrix(np.array(values["transform"]))
        values["offset_mm"] = tuple(float(v) for v in values.get("offset_mm", (0, 0, 0)))
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in names})


@dataclass
class Link:
    """How the viewer maps the current series' positions to the prior's.

    Attributes
    ----------
    mode
        ``"patient"`` (shared Frame of Reference: identity), ``"registered"`` (through a
        registration), ``"unregistered"`` (different Frames of Reference, not registered yet),
        or ``"no_overlap"`` (reported, never linked).
    transform
        Current LPS -> prior LPS, manual offset included.
    message
        One line for the reader.
    """

    mode: str
    transform: RigidTransform = field(default_factory=RigidTransform)
    message: str = ""
    result: RegistrationResult | None = None

    @property
    def linked(self) -> bool:
        """Return True when positions may be mapped from one series to the other."""
        return self.mode in ("patient", "registered")

    def to_prior_index(self, current: Volume, prior: Volume,
                       index: NDArray[Any]) -> NDArray[np.float64]:
        """Map a fractional array index of `current` to the prior's (may lie outside it)."""
        lps = current.index_to_patient(np.asarray(index, dtype=np.float64))
        return prior.patient_to_index(self.transform.apply(lps))

    def to_current_index(self, current: Volume, prior: Volume,
                         index: NDArray[Any]) -> NDArray[np.float64]:
        """Map a fractional array index of `prior` to the current's."""
        lps = prior.index_to_patient(np.asarray(index, dtype=np.float64))
        return current.patient_to_index(self.transform.inverse().apply(lps))


def frame_of_reference(volume: Volume) -> str:
    """Return the volume's FrameOfReferenceUID ('' when unknown)."""
    return str(volume.meta.get("frame_of_reference_uid") or "")


def initial_link(current: Volume, prior: Volume) -> Link:
    """Return the link possible without registering: patient coordinates, or none yet."""
    for_c, for_p = frame_of_reference(current), frame_of_reference(prior)
    if for_c and for_c == for_p:
        overlap = overlap_fraction(current, prior, RigidTransform())
        if overlap <= 0.0:
            return Link("no_overlap", message="same Frame of Reference, but the two series do "
                                              "not overlap: not linked")
        return Link("patient", message="linked in patient coordinates (same Frame of Reference)")
    return Link("unregistered", message="different Frames of Reference: registration needed "
                                        "before the series are linked")


def link_from_result(result: RegistrationResult) -> Link:
    """Return the link a registration result allows (reported as no overlap when it fails)."""
    if not result.ok:
        return Link("no_overlap", result=result, message=(
            f"registration found no overlap (overlap {result.overlap:.0%}, similarity "
            f"{result.similarity:.2f}): not linked"))
    t = result.transform
    shift = t.array[:3, 3]
    text = (f"registered: rotation {t.rotation_degrees:.1f}°, translation "
            f"({shift[0]:.1f}, {shift[1]:.1f}, {shift[2]:.1f}) mm")
    if any(result.offset_mm):
        o = result.offset_mm
        text += f", manual offset ({o[0]:.1f}, {o[1]:.1f}, {o[2]:.1f}) mm"
    return Link("registered", result.corrected, text, result)


# --- checks ----------------------------------------------------------------------------------
def _sample_grid(volume: Volume, points: int) -> NDArray[np.float64]:
    """Return array indices of about `points` voxels spread over `volume`."""
    shape = np.array(volume.shape, dtype=np.float64)
    step = max(1.0, float((shape.prod() / max(points, 1)) ** (1 / 3)))
    axes = [np.arange(0, n, max(1, int(round(step * min(1.0, n / shape.max() * 3)))))
            for n in volume.shape]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    return np.asarray(grid, dtype=np.float64)


def overlap_fraction(current: Volume, prior: Volume, transform: RigidTransform,
                     points: int = 20_000) -> float:
    """Return the fraction of the current volume that maps inside the prior volume."""
    idx = _sample_grid(current, points)
    mapped = prior.patient_to_index(transform.apply(current.index_to_patient(idx)))
    inside = np.all((mapped >= -0.5) & (mapped <= np.array(prior.shape) - 0.5), axis=1)
    return float(inside.mean()) if len(inside) else 0.0


def similarity(current: Volume, prior: Volume, transform: RigidTransform,
               points: int = 60_000) -> tuple[float, float]:
    """Return (overlap fraction, normalised cross-correlation over the overlap).

    Computed on a coarse grid with nearest-neighbour sampling: a check of the result,
    independent of the optimiser's own metric.
    """
    idx = _sample_grid(current, points)
    mapped = prior.patient_to_index(transform.apply(current.index_to_patient(idx)))
    near = np.rint(mapped).astype(np.int64)
    inside = np.all((near >= 0) & (near < np.array(prior.shape)), axis=1)
    overlap = float(inside.mean()) if len(inside) else 0.0
    if inside.sum() < 100:
        return overlap, 0.0
    src = idx[inside].astype(np.int64)
    a = np.asarray(current.voxels[src[:, 0], src[:, 1], src[:, 2]], dtype=np.float64)
    n = near[inside]
    b = np.asarray(prior.voxels[n[:, 0], n[:, 1], n[:, 2]], dtype=np.float64)
    a -= a.mean()
    b -= b.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return overlap, (float((a * b).sum()) / denom if denom > 0 else 0.0)


# --- registration ----------------------------------------------------------------------------
def _to_sitk(volume: Volume) -> Any:
    """Return `volume` as a float32 SimpleITK image with its physical geometry."""
    import SimpleITK as sitk

    if volume.is_sheared:
        raise RegistrationError("a sheared (tilted) series cannot be registered rigidly here",
                                where=volume.series_uid)
    image = sitk.GetImageFromArray(np.asarray(volume.voxels, dtype=np.float32))
    spacing = volume.spacing  # slice, row, column -> ITK's z, y, x
    image.SetSpacing((spacing[2], spacing[1], spacing[0]))
    image.SetOrigin(volume.origin)
    axes = volume.affine[:3, :3] / np.array(spacing)
    direction = np.stack([axes[:, 2], axes[:, 1], axes[:, 0]], axis=1)
    image.SetDirection(tuple(float(v) for v in direction.ravel()))
    factors = [max(1, int(round(WORK_SPACING_MM / s))) for s in (spacing[2], spacing[1],
                                                                  spacing[0])]
    if max(factors) > 1:  # fine pixels add time, not accuracy, to a rigid fit of a body
        image = sitk.BinShrink(image, factors)
    return image


def body_centre(volume: Volume) -> NDArray[np.float64]:
    """Return the LPS centre of mass of the body (voxels above the mid-intensity)."""
    step = max(1, int(round((np.prod(volume.shape) / 400_000) ** (1 / 3))))
    sub = np.asarray(volume.voxels[::step, ::step, ::step], dtype=np.float32)
    threshold = -500.0 if volume.modality == "CT" else float(
        np.mean(np.percentile(sub, [1.0, 99.0])))
    idx = np.argwhere(sub > threshold)
    if len(idx) == 0:
        idx = np.argwhere(np.ones_like(sub, dtype=bool))
    return volume.index_to_patient(idx.mean(axis=0) * step)


def register_rigid(current: Volume, prior: Volume, *, progress: ProgressFn | None = None,
                   cancel: CancelFn | None = None, threads: int | None = None,
                   seed: int = 20261) -> RegistrationResult:
    """Find the rigid transform from `current`'s patient coordinates to `prior`'s.

    Parameters
    ----------
    current, prior
        The two series (any orientation; not sheared).
    progress
        Called as ``progress(fraction, message)`` from the registration's iterations.
    cancel
        Returns True to stop; then `RegistrationCancelled` is raised.
    threads
        SimpleITK threads (default: every core).
    seed
        Seed of the metric's random sampling: the same pair gives the same result.

    Returns
    -------
    RegistrationResult
        The transform, and the overlap and similarity that decide whether it is linked.
    """
    try:
        import SimpleITK as sitk
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise RegistrationError("SimpleITK is not installed: registration unavailable") from exc

    t0 = time.perf_counter()
    fixed, moving = _to_sitk(current), _to_sitk(prior)
    c_fixed, c_moving = body_centre(current), body_centre(prior)
    initial = sitk.Euler3DTransform()
    initial.SetCenter(tuple(float(v) for v in c_fixed))
    initial.SetTranslation(tuple(float(v) for v in c_moving - c_fixed))
    shrink, sigmas = [2, 1], [2.0, 0.0]
    n_voxels = float(np.prod(fixed.GetSize()))
    method: Any = sitk.ImageRegistrationMethod()  # SimpleITK's stubs mark calls untyped
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=40)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentagePerLevel(
        [min(0.5, 25_000 * f**3 / n_voxels) for f in shrink], seed)
    method.SetInterpolator(sitk.sitkLinear)
    max_iter = 150
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=4.0, minStep=1e-3, numberOfIterations=max_iter, relaxationFactor=0.6,
        gradientMagnitudeTolerance=1e-6)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(shrink)
    method.SetSmoothingSigmasPerLevel(sigmas)
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    method.SetInitialTransform(initial, inPlace=True)
    if threads:
        method.SetNumberOfThreads(int(threads))
    stopped: list[bool] = []
    iterations = [0]

    def on_iteration() -> None:
        iterations[0] += 1
        if cancel is not None and cancel():
            if not stopped:
                stopped.append(True)
                method.StopRegistration()
            return
        if progress is not None:
            level = method.GetCurrentLevel()
            frac = (level + min(1.0, method.GetOptimizerIteration() / max_iter)) / len(shrink)
            progress(0.05 + 0.9 * frac, f"registering (level {level + 1}/{len(shrink)})")

    method.AddCommand(sitk.sitkIterationEvent, on_iteration)
    if progress is not None:
        progress(0.05, "registering")
    try:
        method.Execute(fixed, moving)
    except RuntimeError as exc:
        if stopped:
            raise RegistrationCancelled("registration cancelled") from exc
        # e.g. "All samples map outside moving image buffer": nothing in common
        log.info("registration failed: %s", exc)
        return RegistrationResult(RigidTransform(), 0.0, 0.0, seconds=time.perf_counter() - t0,
                                  stop_reason=str(exc).strip().splitlines()[-1][:200])
    if stopped:
        raise RegistrationCancelled("registration cancelled")
    transform = _euler_matrix(initial)
    overlap, ncc = similarity(current, prior, transform)
    result = RegistrationResult(transform, overlap, ncc, metric=float(method.GetMetricValue()),
                                seconds=time.perf_counter() - t0, iterations=iterations[0],
                                stop_reason=method.GetOptimizerStopConditionDescription()[:200])
    if progress is not None:
        progress(1.0, "registered")
    log.info("registered %s -> %s in %.1f s: overlap %.2f, similarity %.2f", current.series_uid,
             prior.series_uid, result.seconds, overlap, ncc)
    return result


def _euler_matrix(transform: Any) -> RigidTransform:
    """Return the 4x4 matrix of a SimpleITK Euler3DTransform (fixed -> moving points)."""
    rot = np.array(transform.GetMatrix(), dtype=np.float64).reshape(3, 3)
    centre = np.array(transform.GetCenter(), dtype=np.float64)
    shift = np.array(transform.GetTranslation(), dtype=np.float64)
    m = np.eye(4)
    m[:3, :3] = rot
    m[:3, 3] = centre - rot @ centre + shift
    return RigidTransform.from_matrix(m)


# --- cache -----------------------------------------------------------------------------------
def content_digest(volume: Volume) -> str:
    """Return a digest of the volume's voxels and geometry."""
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((volume.shape, str(volume.voxels.dtype))).encode())
    h.update(np.ascontiguousarray(volume.affine).tobytes())
    voxels = np.ascontiguousarray(volume.voxels)
    for k in range(voxels.shape[0]):  # slice by slice: no second copy of a large series
        h.update(memoryview(voxels[k]).cast("B"))
    return h.hexdigest()


class RegistrationCache:
    """Registration results as small JSON files, keyed by both series and their content.

    Parameters
    ----------
    root
        The folder (``<data folder>/cache/registration``).
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)

    @staticmethod
    def key(current: Volume, prior: Volume) -> str:
        """Return the entry name for registering `current` onto `prior`."""
        h = hashlib.sha1(f"{CACHE_VERSION}:{current.series_uid}:{prior.series_uid}".encode())
        h.update(content_digest(current).encode())
        h.update(content_digest(prior).encode())
        return h.hexdigest()[:32]

    def get(self, key: str) -> RegistrationResult | None:
        """Return the stored result, or None."""
        try:
            data = json.loads((self.root / f"{key}.json").read_text(encoding="utf-8"))
            return RegistrationResult.from_json(data["result"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable registration cache entry %s: %s", key, exc)
            return None

    def put(self, key: str, result: RegistrationResult, **facts: Any) -> None:
        """Store `result` (written atomically); `facts` (series UIDs...) are kept beside it."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = self.root / f"{key}.{os.getpid()}.tmp"
            tmp.write_text(json.dumps({"version": CACHE_VERSION, **facts,
                                       "result": result.to_json()}), encoding="utf-8")
            tmp.replace(self.root / f"{key}.json")
        except OSError as exc:
            log.warning("cannot write registration cache entry %s: %s", key, exc)

    def set_offset(self, key: str, offset_mm: tuple[float, float, float]) -> bool:
        """Record the reader's manual offset on a stored result; return False if none."""
        result = self.get(key)
        if result is None:
            return False
        x, y, z = (float(v) for v in offset_mm)
        self.put(key, replace(result, offset_mm=(x, y, z)))
        return True


def register_cached(current: Volume, prior: Volume, cache: RegistrationCache | None, *,
                    progress: ProgressFn | None = None, cancel: CancelFn | None = None,
                    threads: int | None = None) -> tuple[RegistrationResult, str, bool]:
    """Return (result, cache key, True if it came from the cache), registering when needed."""
    key = RegistrationCache.key(current, prior)
    if cache is not None:
        hit = cache.get(key)
        if hit is not None:
            return hit, key, True
    result = register_rigid(current, prior, progress=progress, cancel=cancel, threads=threads)
    if cache is not None:
        cache.put(key, result, current_series_uid=current.series_uid,
                  prior_series_uid=prior.series_uid)
    return result, key, False
