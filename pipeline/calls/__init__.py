"""Calls and numbers: what a recording's file and name say about the call, one canonical
phone number, the phone's call log, the call-pattern rules, whose law judges a call, and
their tables.

- ``ingest``: find and fingerprint recordings; files still being copied wait (``settled``);
- ``container``: a container that ends before it says it does (an incomplete copy);
- ``callmeta``: number, time, direction and contact from a recorder's file name
  (schemes in ``pipeline/data/recorders.yaml``);
- ``numbers``: one canonical form (E.164) for a number however it is written;
- ``calllog``: a call-log CSV as calls;
- ``callpattern``: night calls, caps, rotation, Reg F, calls after a stop request;
- ``jurisdiction``: whose rules judge each call, chosen per number;
- ``callstore``: the call-log, pattern-finding and message tables, and a recording's names.

Like ``detect``, nothing here knows the order of a run; ``pipeline.flow`` does.
"""
