"""The SQLite store: one database file in the data folder, versioned by numbered migrations."""

from oncoboard.store.db import Store, open_store

__all__ = ["Store", "open_store"]
