"""Map FHIR notes to the record: DocumentReference (text attachments), Composition (sections)
and CarePlan (a plan as text: a tumour board's decision, as Oncoboard exports it).

A note keeps its type (LOINC document codes: consultation, nursing, discharge...), the role of its
author, its date and language, and its text: a plain or HTML attachment decoded with its charset,
or the narrative of a Composition's sections. Superseded documents and documents without text are
counted as skipped, not stored.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from typing import Any

from oncoboard.patients.fhir_import import Context
from oncoboard.patients.fhir_map import _row, codings, iso, source_key

_NOTE_TYPES = {"11488-4": "consultation", "34746-8": "nursing", "34748-4": "phone",
               "18842-5": "discharge", "11526-1": "pathology", "18748-4": "radiology",
               "11506-3": "progress", "28570-0": "procedure"}


def _note_type(cc: Any) -> str | None:
    for _, code, _ in codings(cc):
        if code in _NOTE_TYPES:
            return _NOTE_TYPES[code]
    return getattr(cc, "text", None) or next((d for _, _, d in codings(cc) if d), None)


def _author_role(ctx: Context, authors: Any) -> str | None:
    for ref in authors or []:
        target = ctx.resolve(ref)
        if target is not None and target.get_resource_type() == "PractitionerRole":
            role = next((getattr(cc, "text", None) or next((d for _, _, d in codings(cc) if d),
                                                           None) for cc in target.code or []),
                        None)
            if role:
                return str(role)
        if getattr(ref, "display", None):
            return str(ref.display)
    return None


def _narrative(model: Any) -> str | None:
    div = getattr(getattr(model, "text", None), "div", None)
    if not div:
        return None
    return _html_text(str(div)) or None


def _html_text(markup: str) -> str:
    """Return the text of an HTML document or XHTML fragment (no head, style or script)."""
    markup = re.sub(r"(?is)<(head|style|script)\b.*?</\1\s*>", "", markup)
    text = re.sub(r"(?i)<br\s*/?>|</(p|div|li|tr|h\d)>", "\n", markup)
    text = html.unescape(re.sub(r"<[^>]+>", "", text)).replace("\xa0", " ")
    return re.sub(r"\n\s*\n+", "\n", text).strip()


def _attachment_text(ctx: Context, att: Any, where: str) -> str | None:
    """Return the text of an attachment's inline data; None when it is not text.

    The charset comes from contentType (``text/plain; charset=ISO-8859-1``), default UTF-8;
    text/html is reduced to its text. PDF, images and attachments with only a url carry no
    text Oncoboard can read.
    """
    mime, _, params = (att.contentType or "text/plain").partition(";")
    mime = mime.strip().lower()
    if att.data is None or not (mime.startswith("text/") or mime in ("application/xhtml+xml",)):
        return None
    found = re.search(r"charset\s*=\s*\"?([\w.:-]+)", params, re.I)
    charset = found.group(1) if found else "utf-8"
    try:
        # fhir.resources decodes base64Binary to bytes already
        decoded = att.data if isinstance(att.data, bytes) else \
            base64.b64decode(str(att.data), validate=True)
        text = decoded.decode("utf-8-sig" if charset.lower() in ("utf-8", "utf8") else charset)
    except LookupError as exc:
        raise ctx.error(f"attachment charset {charset!r} is unknown", where) from exc
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ctx.error(f"attachment data is not base64 {charset.upper()} text ({exc}); "
                        "declare the charset in contentType", where) from exc
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _html_text(text) if "html" in mime else text


def map_document(ctx: Context, m: Any, where: str) -> None:
    """DocumentReference (text attachment or narrative) -> notes row.

    A document whose attachments hold no text (a PDF, a scan, a url only) and that has no
    narrative is counted as not stored, not refused: the rest of the file is still imported.
    """
    pid = ctx.patient_for(m.subject, where)
    if m.status == "superseded":  # an older version: its replacement is the note to keep
        ctx.batch.skipped["DocumentReference (superseded)"] += 1
        return
    text, title, language = None, m.description, m.language
    kinds = []
    for content in m.content or []:
        att = content.attachment
        title = title or att.title
        language = att.language or language
        text = _attachment_text(ctx, att, where)
        if text:
            break
        kinds.append("url only" if att.data is None else (att.contentType or "data"))
    text = text or _narrative(m)
    if not text:
        ctx.batch.skipped[f"DocumentReference (no text: {', '.join(kinds) or 'no content'})"] \
            += 1
        return
    context_start = iso(m.context.period.start) if m.context and m.context.period else None
    ctx.batch.add("notes", _row(ctx, pid, source_key(ctx, m, where), where,
                                note_type=_note_type(m.type), author_role=_author_role(ctx,
                                                                                     m.author),
                                date=iso(m.date) or context_start, language=language,
                                title=title, text=text))


def map_composition(ctx: Context, m: Any, where: str) -> None:
    """Composition (title + section texts) -> notes row."""
    pid = ctx.patient_for(m.subject, where)
    parts = []
    for section in m.section or []:
        body = _narrative(section)
        if body:
            parts.append(f"{section.title}\n{body}" if section.title else body)
    if not parts:
        raise ctx.error("no section text", where)
    ctx.batch.add("notes", _row(ctx, pid, source_key(ctx, m, where), where,
                                note_type=_note_type(m.type),
                                author_role=_author_role(ctx, m.author), date=iso(m.date),
                                language=m.language, title=m.title, text="\n\n".join(parts)))


def map_care_plan(ctx: Context, m: Any, where: str) -> None:
    """CarePlan (narrative, else title, description and notes) -> notes row.

    A plan is kept as a note of type ``board decision`` (category code ``board-decision``, as
    ``oncoboard board export --fhir`` writes it) or ``care plan``: its text is searchable and
    shown with the patient's notes; its activities are not turned into treatments. A revoked
    or superseded plan is counted as not stored.
    """
    pid = ctx.patient_for(m.subject, where)
    if m.status in ("revoked", "superseded"):
        ctx.batch.skipped[f"CarePlan ({m.status})"] += 1
        return
    board = any(code == "board-decision" for cc in m.category or [] for _, code, _ in codings(cc))
    text = _narrative(m)
    if not text:
        text = "\n".join(x for x in [m.title, m.description,
                                      *(n.text for n in m.note or [])] if x)
    if not text:
        ctx.batch.skipped["CarePlan (no text)"] += 1
        return
    ctx.batch.add("notes", _row(ctx, pid, source_key(ctx, m, where), where,
                                note_type="board decision" if board else "care plan",
                                author_role=_author_role(ctx, [m.author] if m.author else []),
                                date=iso(m.created) or (iso(m.period.start) if m.period
                                                        else None),
                                language=m.language, title=m.title, text=text))
