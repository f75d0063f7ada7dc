"""Drivers: pymeasure-based classes that satisfy AgeLab's roles (see ``instruments.roles``)."""
