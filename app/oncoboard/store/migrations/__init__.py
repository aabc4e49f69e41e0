"""Numbered schema migrations: ``mNNNN_name.py`` modules each exposing ``migrate(db)``."""
