"""``agelab ship``: its parser and command live with the shipper (``agelab.protocols.ship``), so
the shipper's own process (``python -m agelab.protocols.ship``) starts without the engine."""

from agelab.protocols.ship.command import add_central_arguments, add_ship_parser

__all__ = ["add_central_arguments", "add_ship_parser"]
