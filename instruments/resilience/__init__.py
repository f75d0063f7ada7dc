"""Resilience in one place: every instrument call passes through ``Resilient`` (``proxy``).

- ``proxy``: retries, reconnection, the configuration journal and its replay, the error queue;
- ``faults``: the fault kinds, the event each becomes, and the exceptions raised;
- ``outages``: the output's account across faults, kept for drivers that declare an output;
- ``power_cuts``: when a power cut struck, from what the bus saw.
"""

from agelab.instruments.resilience.faults import FaultEvent, InstrumentFault, classify
from agelab.instruments.resilience.proxy import ERROR_POLL_S, PATIENCE_S, Resilient

__all__ = ["ERROR_POLL_S", "PATIENCE_S", "FaultEvent", "InstrumentFault", "Resilient",
           "classify"]
