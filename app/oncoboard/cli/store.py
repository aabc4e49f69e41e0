"""`oncoboard store migrate|copy`: bring a database's schema up to date; copy a workstation's
SQLite data into a site database."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from oncoboard.cli import print_json

if TYPE_CHECKING:
    from oncoboard.cli import Context


def register(sub: Any, common: Any) -> None:
    """Add ``oncoboard store migrate|copy``."""
    p = sub.add_parser("store", parents=[common], help="the database: migrate, copy to a site "
                                                       "database")
    ssub = p.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    m = ssub.add_parser("migrate", parents=[common],
                        help="apply the schema's pending migrations (a site's set-up runs it "
                             "as the database's owner)")
    m.set_defaults(handler=_migrate_cmd)
    c = ssub.add_parser("copy", parents=[common],
                        help="copy this workstation's SQLite data into a site database "
                             "(idempotent, resumable)")
    c.add_argument("--to", required=True, metavar="URL", help="the site database, "
                                                             "postgresql://host/dbname")
    c.add_argument("--batch", type=int, default=2000, help="rows per transaction (default 2000)")
    c.add_argument("--json", action="store_true", help="print the counts as JSON")
    c.set_defaults(handler=_copy_cmd)


def _migrate_cmd(args: Any, ctx: Context) -> int:
    from oncoboard.store import open_store

    store = open_store(ctx.settings.store_target, migrate=False)
    try:
        applied = store.migrate()
        print(f"{store.where}: schema version {store.schema_version()}; "
              f"{len(applied)} migration(s) applied" + (f": {', '.join(applied)}" if applied
                                                         else " (up to date)"))
    finally:
        store.close()
    return 0


def _copy_cmd(args: Any, ctx: Context) -> int:
    from oncoboard import database_url as db_url
    from oncoboard.errors import ConfigError
    from oncoboard.store import open_store
    from oncoboard.store.copy import copy_store

    if not db_url.is_postgres(args.to):
        raise ConfigError(f"--to {db_url.masked(args.to)}: give a site database's URL, "
                          "postgresql://host/dbname")
    if args.batch < 1:
        raise ConfigError("--batch must be at least 1")
    source = ctx.store
    target = open_store(args.to)
    try:
        if not args.json:
            print(f"copying {source.where} to {target.where}")
        report = copy_store(source, target, batch_rows=args.batch,
                            progress=None if args.json else _print_table)
    finally:
        target.close()
    rate = report.copied / report.seconds if report.seconds > 0 else 0.0
    if args.json:
        print_json({"tables": [vars(t) for t in report.tables], "copied": report.copied,
                    "differing_rows": report.differing_rows,
                    "source_rows": report.source_rows, "seconds": round(report.seconds, 3),
                    "rows_per_second": round(rate), "patients_noted": len(report.patients),
                    "meetings_noted": len(report.meetings)})
    else:
        print(f"{report.copied} new rows copied of {report.source_rows} in "
              f"{report.seconds:.1f} s ({rate:.0f} rows/s)"
              + ("; nothing new to copy" if not report.copied else ""))
        if report.patients or report.meetings:
            print(f"{len(report.patients)} patient(s) and {len(report.meetings)} meeting(s) "
                  "noted as changed: screens open on the site's workstations read them again")
    if report.differing_rows:  # kept as the target has them: the user decides
        for t in report.tables:
            if t.differing_rows:
                more = t.differing_rows - len(t.differing)
                print(f"oncoboard: {target.where}: {t.table}: {t.differing_rows} row(s) differ "
                      f"from this workstation's and were kept as there: "
                      f"{', '.join(t.differing)}" + (f" and {more} more" if more > 0 else ""),
                      file=sys.stderr)
        return 1
    return 0


def _print_table(done: Any) -> None:
    extra = f", {done.differing_rows} differ (kept)" if done.differing_rows else ""
    print(f"  {done.table:<22} {done.copied:>8} new  ({done.source_rows} in the source, "
          f"{done.present} already there{extra})")
