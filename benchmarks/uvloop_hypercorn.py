"""A server of ``run.py`` on uvloop: the same hypercorn serving and flags, uvloop's event loop
instead of asyncio's (for the server-choice step)::

    REDIS_URL=redis://127.0.0.1:6379/0 python benchmarks/uvloop_hypercorn.py api --port 8003
    REDIS_URL=... REFERENCE_MEMO=1 python benchmarks/uvloop_hypercorn.py reference --port 8004

``api`` is ``python -m fullon_cache_api``; ``reference`` is ``python benchmarks/reference.py``.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import uvloop

if __name__ == "__main__":
    which = sys.argv.pop(1)
    if which == "api":
        from fullon_cache_api.__main__ import main
    elif which == "reference":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from reference import main
    else:
        sys.exit(f"usage: {sys.argv[0]} api|reference [flags of python -m fullon_cache_api]")
    # Every asyncio.run() of the server makes a uvloop loop.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    sys.exit(main())
