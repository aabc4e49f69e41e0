"""UI translations: ``oncoboard_<lang>.ts`` (source, edited by translators) and ``.qm`` (compiled)."""
