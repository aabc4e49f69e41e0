"""AJCC 8th edition stage groups from T, N and M (lung; breast anatomic stage).

One function computes the stage group (:func:`stage_group`), used by the demo cohort so that its
stage groups follow its TNM, and by imports to flag a recorded stage group that contradicts the
recorded TNM (:func:`stage_conflict`).

Categories are accepted with or without the c/p/yp/r prefixes and in any case ("cT2", "pT1c",
"ypN1a", "M1a"). A combination the tables do not define (lung T0 N1 M0), or whose group depends
on a subcategory that was not given (lung "T2" N0 M0: IB for T2a, IIA for T2b), gives None.

Sources: AJCC Cancer Staging Manual, 8th edition: lung (chapter 36; IASLC 8th edition TNM) stage
groups; breast (chapter 48) anatomic stage groups. Breast *prognostic* stage groups (which add
grade, ER, PR and HER2) can differ from the anatomic group: a recorded breast stage that differs
is reported with that caveat.
"""

from __future__ import annotations

import re

SITES = ("lung", "breast")

_PREFIX = re.compile(r"^(?:y?[cpr]|yp|a)?", re.IGNORECASE)

# Lung, AJCC 8th: rows of the stage-group table for M0 (T categories x N categories -> group).
_LUNG_T = ("TX", "Tis", "T1mi", "T1a", "T1b", "T1c", "T2a", "T2b", "T3", "T4")
_LUNG_N = ("N0", "N1", "N2", "N3")
_LUNG_M = ("M0", "M1a", "M1b", "M1c")
_LUNG_M0: dict[tuple[str, str], str] = {("TX", "N0"): "occult carcinoma", ("Tis", "N0"): "0",
                                        ("T1mi", "N0"): "IA1", ("T1a", "N0"): "IA1",
                                        ("T1b", "N0"): "IA2", ("T1c", "N0"): "IA3",
                                        ("T2a", "N0"): "IB", ("T2b", "N0"): "IIA",
                                        ("T3", "N0"): "IIB", ("T4", "N0"): "IIIA"}
for _t in ("T1mi", "T1a", "T1b", "T1c", "T2a", "T2b"):
    _LUNG_M0[(_t, "N1")] = "IIB"
    _LUNG_M0[(_t, "N2")] = "IIIA"
    _LUNG_M0[(_t, "N3")] = "IIIB"
_LUNG_M0.update({("T3", "N1"): "IIIA", ("T3", "N2"): "IIIB", ("T3", "N3"): "IIIC",
                 ("T4", "N1"): "IIIA", ("T4", "N2"): "IIIB", ("T4", "N3"): "IIIC"})

# Breast, AJCC 8th anatomic stage groups.
_BREAST_T = ("T0", "Tis", "T1", "T2", "T3", "T4")
_BREAST_N = ("N0", "N1mi", "N1", "N2", "N3")


def _breast_m0(t: str, n: str) -> str | None:
    if n == "N3":
        return "IIIC"
    if t == "T4":
        return "IIIB"
    if n == "N1mi" and t in ("T2", "T3"):
        n = "N1"  # AJCC 8th: T2-T3 with micrometastases are staged with N1
    return {("Tis", "N0"): "0", ("T1", "N0"): "IA", ("T0", "N1mi"): "IB",
            ("T1", "N1mi"): "IB", ("T0", "N1"): "IIA", ("T1", "N1"): "IIA",
            ("T2", "N0"): "IIA", ("T2", "N1"): "IIB", ("T3", "N0"): "IIB",
            ("T0", "N2"): "IIIA", ("T1", "N2"): "IIIA", ("T2", "N2"): "IIIA",
            ("T3", "N1"): "IIIA", ("T3", "N2"): "IIIA"}.get((t, n))


def _clean(value: str | None, letter: str) -> str | None:
    """Return 'T2a' from 'cT2a', 'pt2A', 'ypT2a'; None when it is not a category of `letter`."""
    if value is None:
        return None
    v = _PREFIX.sub("", value.strip().replace(" ", ""), count=1)
    if not v or v[0].upper() != letter:
        return None
    v = letter + v[1:]
    if v.lower().startswith(letter.lower() + "is"):
        return letter + "is"
    if v.upper() == letter + "X":
        return letter + "X"
    return v[0] + v[1:].lower() if letter == "M" else v[0] + v[1:].lower().replace("mi", "mi")


def _lung(t: str, n: str, m: str) -> str | None:
    if m.startswith("M1"):
        if m in ("M1a", "M1b"):
            return "IVA"
        if m == "M1c":
            return "IVB"
        return "IV" if m == "M1" else None
    if m != "M0" or n not in _LUNG_N:
        return None
    if (t, n) in _LUNG_M0:
        return _LUNG_M0[(t, n)]
    # A T category without its subcategory: a group only when every subcategory agrees.
    subs = {"T1": ("T1mi", "T1a", "T1b", "T1c"), "T2": ("T2a", "T2b")}.get(t)
    if subs:
        groups = {_LUNG_M0[(s, n)] for s in subs}
        if len(groups) == 1:
            return groups.pop()
        if t == "T1" and n == "N0":
            return "IA"  # IA1-IA3: the letter is known, the number needs the subcategory
    return None


def _breast(t: str, n: str, m: str) -> str | None:
    if m.startswith("M1"):
        return "IV"
    if m.startswith("M0"):  # M0(i+) is M0
        m = "M0"
    if m != "M0":
        return None
    tb = "T1" if t.startswith("T1") else "T4" if t.startswith("T4") else t
    nb = n if n in ("N1mi",) else n[:2] if n[:2] in ("N0", "N1", "N2", "N3") else n
    if nb == "N3":
        return "IIIC"  # any T, N3, M0
    if tb not in _BREAST_T or nb not in _BREAST_N:
        return None
    return _breast_m0(tb, nb)


def stage_group(site: str, t: str | None, n: str | None, m: str | None) -> str | None:
    """Return the AJCC 8th stage group ('IIIB', 'IA1', 'IV', ...) of site 'lung' or 'breast'.

    Returns None when the tables do not define the combination or it needs a subcategory that
    was not given (see the module docstring).
    """
    tc, nc, mc = _clean(t, "T"), _clean(n, "N"), _clean(m, "M")
    if tc is None or nc is None or mc is None:
        return None
    if nc.startswith("N0"):  # N0(i+), N0(mol+) are N0
        nc = "N0"
    if site == "lung":
        return _lung(tc, nc, mc)
    if site == "breast":
        return _breast(tc, nc, mc)
    raise ValueError(f"no AJCC stage table for site {site!r} (known: {', '.join(SITES)})")


_GROUP = re.compile(r"^(0|IV|I{1,3})([ABC]?)(\d?)$")


def _parts(stage: str) -> tuple[str, str, str] | None:
    """Return (numeral, letter, digit) of 'IIIB', 'IA2', 'Stage IV'; None if not a group."""
    s = re.sub(r"^(?:stage|stade)\s*", "", stage.strip(), flags=re.IGNORECASE)
    m = _GROUP.match(s.replace(" ", "").upper())
    return (m.group(1), m.group(2), m.group(3)) if m else None


def _agree(a: tuple[str, str, str], b: tuple[str, str, str]) -> bool:
    """Same numeral; each finer part equal where both give it ('III' agrees with 'IIIB')."""
    return a[0] == b[0] and all(x == y or not x or not y for x, y in zip(a[1:], b[1:],
                                                                         strict=True))


def stage_conflict(site: str, t: str | None, n: str | None, m: str | None,
                   recorded: str | None) -> str | None:
    """Return a plain-words flag when the recorded stage group contradicts the recorded TNM.

    A recorded group less specific than the computed one agrees with it ('III' vs 'IIIB',
    'IA' vs 'IA2'); None when they agree, or when either cannot be known.
    """
    if not recorded:
        return None
    computed = stage_group(site, t, n, m)
    if computed is None:
        return None
    rec, comp = _parts(recorded), _parts(computed)
    if comp is None:  # occult carcinoma
        comp_ok = recorded.strip().lower() in ("occult carcinoma", "occult", "tx")
        if comp_ok:
            return None
    elif rec is not None and _agree(rec, comp):
        return None
    tnm = " ".join(x for x in (t, n, m) if x)
    msg = (f"recorded stage {recorded} contradicts {tnm}: AJCC 8th {site} stage group "
           f"{computed}")
    if site == "breast":
        msg += (" (anatomic; a recorded prognostic stage group, which adds grade and receptors, "
                "may legitimately differ)")
    return msg
