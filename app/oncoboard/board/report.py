"""The meeting's PDF report: a cover page, then exactly one page per case.

Each case page carries the meeting header, the patient's identifiers (ID, age, sex; the name only
when asked), the question, the record summary, every prediction with its uncertainty (survival
curves with their bands and what-if curves, probabilities with their interval and risk band) and
its warnings in plain sight, the model name, version and sha256 prefix, the key image with the
tumour contour, and the decision block with any departure from a model. The content of a case is
shrunk to fit its page rather than spill onto the next one, so page n+1 is always case n. The
footer of every page names the Oncoboard version, the page number and the audit log's head hash.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from PIL import Image as PILImage
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (
    Flowable,
    Image,
    KeepInFrame,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from oncoboard import __version__
from oncoboard.board.caseview import CaseView, meeting_case_views
from oncoboard.board.export import all_attendees, atomic_write, audit_head
from oncoboard.board.figures import probability_drawing, survival_drawing
from oncoboard.board.keyimage import KeyImage
from oncoboard.board.meetings import KNOWN_SPECIALTIES, Meeting, get_meeting, now_utc
from oncoboard.board.prediction_view import PredictionView, ResultView
from oncoboard.identity import user_of
from oncoboard.inference.prediction import SYNTHETIC_LABEL

if TYPE_CHECKING:
    from oncoboard.config import Settings
    from oncoboard.store import Store

log = logging.getLogger(__name__)

PAGE_W, PAGE_H = A4
MARGIN = 14 * mm
FRAME_W, FRAME_H = PAGE_W - 2 * MARGIN, PAGE_H - 2 * MARGIN - 8 * mm
_BASE = getSampleStyleSheet()
STYLES = {
    "title": ParagraphStyle("title", parent=_BASE["Title"], fontSize=18, spaceAfter=4),
    "h1": ParagraphStyle("h1", parent=_BASE["Heading2"], fontSize=13, spaceBefore=2, spaceAfter=2),
    "h2": ParagraphStyle("h2", parent=_BASE["Heading3"], fontSize=10.5, spaceBefore=5,
                         spaceAfter=1),
    "body": ParagraphStyle("body", parent=_BASE["BodyText"], fontSize=9, leading=11.5),
    "small": ParagraphStyle("small", parent=_BASE["BodyText"], fontSize=7.5, leading=9.5,
                            textColor=colors.HexColor("#444444")),
    "warn": ParagraphStyle("warn", parent=_BASE["BodyText"], fontSize=8, leading=10,
                           textColor=colors.HexColor("#8b1a1a"), backColor=colors.HexColor(
                               "#fdecea"), borderPadding=2, spaceBefore=1, spaceAfter=2),
    "banner": ParagraphStyle("banner", parent=_BASE["BodyText"], fontSize=10, leading=13,
                             alignment=1, textColor=colors.white,
                             backColor=colors.HexColor("#b03a2e"), borderPadding=3),
}


def _p(text: str, style: str = "body") -> Paragraph:
    return Paragraph(escape(str(text)).replace("\n", "<br/>"), STYLES[style])


def _kv(label: str, value: str, style: str = "body") -> Paragraph:
    return Paragraph(f"<b>{escape(label)}:</b> {escape(str(value))}", STYLES[style])


def specialty_label(code: str) -> str:
    """Return ``"sein (breast)"`` for a known specialty code, else the code."""
    english = KNOWN_SPECIALTIES.get(code)
    return f"{code} ({english})" if english else code


def _table(rows: list[list[Any]], widths: list[float], *, grid: bool = False) -> Table:
    table = Table(rows, colWidths=widths, hAlign="LEFT")
    style: list[tuple[Any, ...]] = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 2),
        ("RIGHTPADDING", (0, 0), (-1, -1), 4), ("TOPPADDING", (0, 0), (-1, -1), 1),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1)]
    if grid:
        style += [("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")),
                  ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef7"))]
    table.setStyle(TableStyle(style))
    return table


def _image_flowable(image: KeyImage, max_w: float, max_h: float) -> Image:
    pil = PILImage.fromarray(image.rgb, mode="RGB")
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG")
    buffer.seek(0)
    rows, cols = image.rgb.shape[:2]
    natural_w, natural_h = float(cols), float(rows) * image.pixel_aspect
    scale = min(max_w / natural_w, max_h / natural_h)
    return Image(buffer, width=natural_w * scale, height=natural_h * scale)


def _cover(meeting: Meeting, views: list[CaseView], head: str | None,
           generated_by: str) -> list[Flowable]:
    story: list[Flowable] = [_p(f"Tumour board: {meeting.title}", "title"),
                             _kv("Date", meeting.date),
                             _kv("Specialty", specialty_label(meeting.specialty)),
                             _kv("Location", meeting.location or "not recorded"),
                             _kv("Status", meeting.status),
                             _kv("Meeting", f"{meeting.id} ({meeting.uid})", "small")]
    if any(v.synthetic for v in views):
        story += [Spacer(1, 4), _p("SYNTHETIC DATA - DEMONSTRATION ONLY: not for clinical use",
                                   "banner")]
    story += [_p("Attendees", "h1")]
    people = all_attendees(meeting, views)
    story += [_p(", ".join(a.label() for a in people) if people else "none recorded")]
    story += [_p(f"Cases ({len(views)})", "h1")]
    rows: list[list[Any]] = [[_p("#"), _p("Patient"), _p("Question"), _p("Decision")]]
    for v in views:
        decided = (f"{v.decision.plan} (v{v.decision.version})" if v.decision
                   else "no decision recorded")
        rows.append([_p(str(v.case.position)), _p(v.identity["id"]), _p(v.case.question),
                     _p(decided)])
    story.append(_table(rows, [10 * mm, 32 * mm, 68 * mm, FRAME_W - 110 * mm], grid=True))
    story += [Spacer(1, 8), _kv("Audit log head", head or "empty log", "small"),
              _kv("Generated", f"{now_utc()} by {generated_by or '-'} with Oncoboard {__version__}",
                  "small")]
    return story


def _figure(result: ResultView, width: float) -> Flowable | None:
    if result.kind == "survival" and result.curve is not None:
        return survival_drawing(result, width=width)
    if result.kind in ("probability", "score") and result.value is not None:
        return probability_drawing(result, width=width)
    return None


def _prediction_block(pred: PredictionView, width: float) -> list[Flowable]:
    out: list[Flowable] = [_p(f"{pred.plugin_name}", "h2"),
                           _p(f"Model {pred.model_label}; prediction {pred.id}, "
                              f"{pred.created_at[:16]}, {pred.provider or 'no provider'}",
                              "small")]
    warnings = pred.plain_warnings()
    if warnings:
        out.append(Paragraph("<br/>".join(f"WARNING: {escape(w)}" for w in warnings),
                             STYLES["warn"]))
    texts: list[Flowable] = [_p(r.text()) for r in pred.results]
    texts += [_p(note, "small") for note in pred.uncertainty_notes()]
    figures = [f for f in (_figure(r, width / 2 - 6) for r in pred.results) if f is not None]
    if len(figures) == 1:
        out.append(_table([[texts, figures[0]]], [width / 2, width / 2]))
        return out
    out += texts
    # Two figures a row: three survival outputs with their what-if curves still fit a page.
    rows = [figures[i:i + 2] + [Spacer(1, 1)] * (2 - len(figures[i:i + 2]))
            for i in range(0, len(figures), 2)]
    if rows:
        out.append(_table(rows, [width / 2, width / 2]))
    return out


def _decision_block(view: CaseView) -> list[Flowable]:
    out: list[Flowable] = [_p("Board decision", "h1")]
    d = view.decision
    if d is None:
        return [*out, _p("No decision recorded.")]
    if d.options:
        out.append(_kv("Options discussed", "; ".join(d.options)))
    out += [_kv("Plan", d.plan), _kv("Rationale", d.rationale),
            _kv("Attendees", ", ".join(a.label() for a in d.attendees))]
    if d.departs_from_model:
        out.append(_p(f"Departs from model result ({', '.join(d.prediction_ids)}): "
                      f"{d.departure_reason}", "warn"))
    elif d.prediction_ids:
        out.append(_kv("Model results", "the decision does not depart from the model results "
                                        f"shown ({', '.join(d.prediction_ids)})", "small"))
    else:
        out.append(_kv("Model results", "no model result was shown for this decision", "small"))
    version = f"version {d.version}"
    if d.version > 1:
        version += f", amends version {d.version - 1}: {d.amendment_reason}"
    out.append(_kv("Recorded", f"{d.decided_at} by {d.recorded_by}; {version}; "
                               f"audit {(d.audit_hash or '?')[:16]}", "small"))
    return out


def _response_block(view: CaseView) -> list[Flowable]:
    """Return the RECIST 1.1 headline, figure and table (nothing when no lesion was measured)."""
    from oncoboard.board.response_report import response_drawing, response_rows

    if view.response is None or not view.response.has_data:
        return []
    out: list[Flowable] = [_p("Tumour response (RECIST 1.1)", "h1"),
                           _p(view.response.headline(), "body")]
    rows = [[_p(c, "small") for c in row] for row in response_rows(view.response)]
    table = _table(rows, [17 * mm, 11 * mm, 11 * mm, 11 * mm, 11 * mm, 14 * mm, 8 * mm,
                          13 * mm], grid=True)
    out.append(_table([[response_drawing(view.response, FRAME_W - 100 * mm, 105), table]],
                      [FRAME_W - 96 * mm, 96 * mm]))
    return out


def _case_page(view: CaseView, include_names: bool) -> list[Flowable]:
    m, ident = view.meeting, view.identity
    story: list[Flowable] = [
        _p(f"{m.title} - {m.date} - {specialty_label(m.specialty)} - case {view.case.position} "
           f"of {view.total_cases}", "small")]
    if view.synthetic:
        story.append(_p(SYNTHETIC_LABEL.upper(), "banner"))
    heading = f"Patient {ident['id']}"
    if include_names:
        heading += f" - {ident['name']}"
    story.append(_p(heading, "h1"))
    facts = [_kv("Age", f"{ident['age']} y" if ident["age"] is not None else "unknown"),
             _kv("Sex", ident["sex"])]
    if include_names and ident.get("birth_date"):
        facts.append(_kv("Born", ident["birth_date"]))
    facts += [_kv("Question", view.case.question),
              _kv("Presented by", view.case.presenter or "not recorded")]
    facts += [_kv(label, value) for label, value in view.summary_lines]
    right: list[Flowable] = [_p(view.image_note or "no key image", "small")]
    if view.key_image is not None:
        right = [_image_flowable(view.key_image, 74 * mm, 74 * mm),
                 _p("; ".join([view.key_image.caption(), *view.key_image.notes[:2]]), "small")]
    story.append(_table([[facts, right]], [FRAME_W - 78 * mm, 78 * mm]))
    story += _response_block(view)
    story.append(_p("Model results", "h1"))
    if not view.predictions:
        story.append(_p(view.predictions_note))
    for pred in view.predictions:
        story += _prediction_block(pred, FRAME_W)
    story += _decision_block(view)
    return story


def build_pdf(meeting: Meeting, views: list[CaseView], *, head: str | None,
              include_names: bool = False, generated_by: str = "") -> bytes:
    """Return the report's PDF bytes: cover page, then one page per case.

    `generated_by`: the signed-in user's login, printed on the cover page.
    """
    total = 1 + len(views)
    footer = f"audit head {head[:16] if head else 'empty'}"

    def on_page(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7.5)
        canvas.setFillColor(colors.HexColor("#555555"))
        canvas.drawString(MARGIN, 8 * mm, f"Generated by Oncoboard {__version__}, "
                                          f"page {doc.page}/{total}")
        canvas.drawRightString(PAGE_W - MARGIN, 8 * mm, footer)
        canvas.restoreState()

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN,
                            topMargin=MARGIN, bottomMargin=MARGIN + 8 * mm,
                            title=f"Tumour board {meeting.date} {meeting.title}",
                            author=f"Oncoboard {__version__}", subject="tumour-board report")
    cover = _cover(meeting, views, head, generated_by)
    story: list[Flowable] = [KeepInFrame(FRAME_W, FRAME_H, cover, mode="shrink")]
    for view in views:
        story += [PageBreak(), KeepInFrame(FRAME_W, FRAME_H, _case_page(view, include_names),
                                           mode="shrink")]
    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return buffer.getvalue()


def export_pdf(store: Store, meeting_id: int | str, path: str | Path, *,
               include_names: bool = False, views: list[CaseView] | None = None,
               settings: Settings | None = None) -> Path:
    """Write the meeting's PDF report to `path` (atomically) and return the path.

    Parameters
    ----------
    include_names
        Print patient names and birth dates (off by default: ID, age and sex identify the case).
    views
        Case views already gathered (e.g. by the presenter); gathered here when None.
    """
    meeting = get_meeting(store, meeting_id)
    if views is None:
        views = meeting_case_views(store, meeting.id, settings=settings)
    data = build_pdf(meeting, views, head=audit_head(store), include_names=include_names,
                     generated_by=user_of(store).login)
    out = atomic_write(path, data)
    log.info("exported meeting %s as PDF (%d pages)", meeting.id, 1 + len(views))
    return out
