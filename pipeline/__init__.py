"""call-evidence: turn phone-call recordings into a searchable, timestamped evidence index.

Stages live in their own modules (``ingest``, ``normalise``, ``engines``,
``detect``, ``store``, ``browse``); only ``flow`` knows their order.
"""

__version__ = "0.1.0"
