"""AgeLab instrument layer: roles, drivers and the virtual bench (``instruments.sim``)."""
