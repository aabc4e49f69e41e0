"""Write predict-breast-v2.1's MODEL_CARD.md from its template and the measured numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from common.manifest_io import fill_template

HERE = Path(__file__).resolve().parent


def _benefit_table(values: dict[str, Any]) -> str:
    rows = ["| treatment added to surgery | 10-year OS benefit (percentage points) |",
            "|---|---|"]
    for key, est in values.items():
        if key.startswith("example_benefit10_"):
            what = est["description"].split("benefit of ")[1].split(" over")[0]
            rows.append(f"| {what} | {est['value']:.2f} |")
    return "\n".join(rows)


def write_card(path: Path, info: dict[str, Any], values: dict[str, Any]) -> None:
    """Fill MODEL_CARD.md.in."""
    v = {k: e["value"] for k, e in values.items()}
    fill_template(HERE / "MODEL_CARD.md.in", path, {
        "GENERATED_AT": info["generated_at"],
        "N_RANDOM": str(info["n_random"]),
        "N_CASES": str(info["n_random"] * 24),
        "SEED": str(info["seed"]),
        "DIFF_OS": f"{v['max_abs_diff_os_pp']:.1e}",
        "DIFF_BR": f"{v['max_abs_diff_br_mortality_pp']:.1e}",
        "DIFF_OTH": f"{v['max_abs_diff_oth_mortality_pp']:.1e}",
        "MIN_BENEFIT": f"{v['min_treatment_benefit_os_pp']:.2e}",
        "EX_OS10": f"{v['example_os10_surgery_pct']:.1f}",
        "EX_OS10_UNKNOWN": f"{v['example_os10_surgery_screen_unknown_pct']:.1f}",
        "BENEFITS": _benefit_table(values),
        "EX_OS10_ER_NEG_UNKNOWN": f"{v['example_os10_er_negative_grade_unknown_pct']:.1f}",
        "UNCERTAINTY": info["uncertainty"],
        "SHA256": info["sha256"],
        "SIZE_KB": f"{info['size'] / 1024:.0f}",
        "SECONDS": f"{info['seconds']:.1f}",
    })
