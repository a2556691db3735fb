"""Readers of fullon_cache's Redis layout, one module per domain. The layout, and the quirks
these modules cite by number, are described in docs/LAYOUT.md.

A reader takes a ``Source`` and validated values, reads through it (every key from ``keys``),
and returns what is stored, decoded (``Stored*`` payload Structs in plain containers), or raises
``NotFound`` / ``BadCacheValue``. Handlers shape answers from that; a reader never sees a
request. Redis errors propagate as redis-py exceptions, mapped to 502/503/504 in one place.
"""
