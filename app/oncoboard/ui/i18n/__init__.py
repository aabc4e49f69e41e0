"""UI translations: ``oncoboard_<lang>.ts`` (source, for translators) and ``.qm`` (compiled)."""
