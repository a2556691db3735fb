"""What a client chose, made safe to log: control characters escaped (no forged lines), cut to
a bounded length (no log flood). Every log call that formats a client-chosen string (a path, an
id, a name) passes it through ``clean``."""

from __future__ import annotations

__all__ = ["LIMIT", "clean"]

LIMIT = 200
"""Most characters of one client-chosen string in a log line."""

# Every C0 control character, DEL and the C1 range, written as Python would escape them.
_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))}
_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})
_ESCAPES.update({0x2028: "\\u2028", 0x2029: "\\u2029"})  # line separators


def clean(value: object, limit: int = LIMIT) -> str:
    """``value`` as text on one line, at most ``limit`` characters of it (the rest counted)."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = f"{text[:limit]}...({len(text) - limit} more)"
    return text.translate(_ESCAPES)
