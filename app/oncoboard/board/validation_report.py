"""The PDF of a local validation (``oncoboard validate PLUGIN --report FILE.pdf``).

Figures are vector drawings (``reportlab.graphics``, as in :mod:`oncoboard.board.figures`):
the calibration plot (mean predicted vs observed by risk group, with the observed 95 % interval
and the diagonal) and the Kaplan-Meier curves of the risk tertiles (survival outcomes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.shapes import Circle, Drawing, Line, PolyLine, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from oncoboard.board.export import atomic_write
from oncoboard.board.figures import CURVE_COLOURS, FONT

W, H, PAD = 220.0, 180.0, 34.0


def _frame(d: Drawing, xlabel: str, ylabel: str, xmax: float) -> None:
    d.add(Line(PAD, PAD, PAD + W, PAD))
    d.add(Line(PAD, PAD, PAD, PAD + H))
    for k in range(6):
        v = k / 5
        d.add(Line(PAD - 3, PAD + v * H, PAD, PAD + v * H))
        d.add(String(PAD - 5, PAD + v * H - 3, f"{v:.1f}", fontName=FONT, fontSize=7,
                     textAnchor="end"))
        d.add(Line(PAD + v * W, PAD - 3, PAD + v * W, PAD))
        d.add(String(PAD + v * W, PAD - 12, f"{v * xmax:g}", fontName=FONT, fontSize=7,
                     textAnchor="middle"))
    d.add(String(PAD + W / 2, 4, xlabel, fontName=FONT, fontSize=8, textAnchor="middle"))
    d.add(String(10, PAD + H + 8, ylabel, fontName=FONT, fontSize=8))


def calibration_drawing(report: dict[str, Any]) -> Drawing:
    """Return observed vs predicted by risk group (deciles when there are, else tertiles)."""
    surv = report["outcome"] == "survival"
    groups = report.get("groups_10") or report.get("groups_3") or []
    d = Drawing(W + PAD + 20, H + PAD + 20)
    what = f"risk by {report['horizon_months']:g} months" if surv else "probability"
    _frame(d, f"predicted {what}", f"observed {what}", 1.0)
    d.add(Line(PAD, PAD, PAD + W, PAD + H, strokeColor=colors.grey, strokeDashArray=[3, 3]))
    for g in groups:
        p = 1 - g["predicted"] if surv else g["predicted"]
        o = 1 - g["observed"] if surv else g["observed"]
        lo = 1 - g["observed_upper"] if surv else g["observed_lower"]
        hi = 1 - g["observed_lower"] if surv else g["observed_upper"]
        x = PAD + p * W
        d.add(Line(x, PAD + lo * H, x, PAD + hi * H, strokeColor=CURVE_COLOURS[0]))
        d.add(Circle(x, PAD + o * H, 2.5, fillColor=CURVE_COLOURS[0], strokeColor=None))
    return d


def km_drawing(report: dict[str, Any]) -> Drawing:
    """Return the Kaplan-Meier curves of the risk tertiles, with each tertile's mean prediction."""
    h = report["horizon_months"]
    tmax = max([h] + [max(g["km"]["times"] or [0]) for g in report.get("groups_3", [])])
    d = Drawing(W + PAD + 20, H + PAD + 20)
    _frame(d, "months after the reference date", "Kaplan-Meier survival", tmax)
    names = ["low risk", "mid risk", "high risk"]
    for i, g in enumerate(report.get("groups_3", [])):
        pts: list[float] = [PAD, PAD + H]
        last = 1.0
        for t, s in zip(g["km"]["times"], g["km"]["survival"], strict=True):
            x = PAD + t / tmax * W
            pts += [x, PAD + last * H, x, PAD + s * H]
            last = s
        pts += [PAD + W, PAD + last * H]
        colour = CURVE_COLOURS[i % len(CURVE_COLOURS)]
        d.add(PolyLine(pts, strokeColor=colour, strokeWidth=1.2))
        x = PAD + h / tmax * W
        d.add(Circle(x, PAD + g["predicted"] * H, 3, fillColor=None, strokeColor=colour))
        d.add(String(PAD + W - 70, PAD + H - 10 - 10 * i, f"{names[i % 3]} (n={g['n']})",
                     fontName=FONT, fontSize=7, fillColor=colour))
    d.add(String(PAD + W - 70, PAD + H - 42, "o = mean predicted", fontName=FONT, fontSize=7))
    return d


def _fmt(x: Any, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def write_report(report: dict[str, Any], path: Path) -> Path:
    """Write the validation report as a PDF (atomically); return the path."""
    import io

    styles = getSampleStyleSheet()
    body, head = styles["BodyText"], styles["Heading2"]
    p = report["plugin"]
    story: list[Any] = [
        Paragraph(escape(f"Local validation of {p['id']} {p['version']}"), styles["Title"]),
        Paragraph(escape(f"Reference date: {report['reference_date_rule']}. Outcome: "
                         f"{report['outcome']} ({', '.join(report['event_kinds'])}); horizon "
                         f"{report['horizon_months']:g} months. Cohort: "
                         f"{report.get('cohort_query') or 'all patients'}. Inputs as recorded "
                         f"on the reference date; no later data used."), body),
        Paragraph(escape(f"Verdict: {report['verdict']}."), body), Spacer(1, 4 * mm)]
    c, co = report["counts"], report.get("counts_outcome", {})
    rows = [["patients", str(c["patients"])], ["validated", str(c["validated"])],
            *[[k, str(v)] for k, v in co.items() if v is not None]]
    rows += [[f"excluded: {k}", str(v)] for k, v in c["excluded"].items()]
    story += [Paragraph("Counts", head), _table(rows)]
    disc = [["measure", "value", "95 % interval"]]
    for key, name in (("harrell", "Harrell's C"), ("uno", "Uno's C"), ("auc", "AUC")):
        if key in report:
            e = report[key]
            disc.append([name, _fmt(e["value"]), f"{_fmt(e['lower'])}-{_fmt(e['upper'])}"])
    oe, cal = report.get("observed_expected"), report.get("calibration_model")
    if oe:
        disc.append(["O/E ratio", _fmt(oe["value"]),
                     f"{_fmt(oe.get('lower'))}-{_fmt(oe.get('upper'))}"])
    if cal:
        disc.append(["calibration intercept", _fmt(cal["intercept"]),
                     f"SE {_fmt(cal['intercept_se'])}"])
        disc.append(["calibration slope", _fmt(cal["slope"]), f"SE {_fmt(cal['slope_se'])}"])
    story += [Paragraph("Discrimination and calibration", head), _table(disc)]
    if report.get("groups_3"):
        g3 = [["risk group", "n", "events", "mean predicted", "observed (95 % CI)"]]
        for g in report["groups_3"]:
            g3.append([str(g["group"]), str(g["n"]), str(g["events"]), _fmt(g["predicted"]),
                       f"{_fmt(g['observed'])} ({_fmt(g['observed_lower'])}-"
                       f"{_fmt(g['observed_upper'])})"])
        story += [Spacer(1, 3 * mm), _table(g3), Spacer(1, 3 * mm),
                  Paragraph("Calibration plot", head), calibration_drawing(report)]
        if report["outcome"] == "survival":
            story += [Paragraph("Kaplan-Meier by risk tertile", head), km_drawing(report)]
    if report.get("manifest_comparison"):
        mc = [["manifest figure", "published", "local"]]
        for r in report["manifest_comparison"]:
            mc.append([r["name"], _fmt(r["value"]), _fmt(r["local"])])
        story += [Paragraph("Against the plugin's manifest", head), _table(mc)]
    if report.get("caveats"):
        story += [Paragraph("Caveats", head),
                  *[Paragraph(escape(f"- {c}."), body) for c in report["caveats"]]]
    buf = io.BytesIO()
    SimpleDocTemplate(buf, pagesize=A4, title=f"Validation {p['id']}").build(story)
    atomic_write(Path(path), buf.getvalue())
    return Path(path)


def _table(rows: list[list[str]]) -> Table:
    t = Table(rows, hAlign="LEFT")
    t.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), FONT, 8),
                           ("GRID", (0, 0), (-1, -1), 0.3, colors.lightgrey),
                           ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke)]))
    return t
