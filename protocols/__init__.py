"""AgeLab protocols: configuration, engine, run files, analysis and the command line."""

__version__ = "0.1.0"
