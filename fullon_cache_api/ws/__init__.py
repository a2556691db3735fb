"""The WebSocket protocol of fullon_cache_api v0.2.6 (see the README), served by the same app and
readers as the REST routes.

- ``actions``: the declaration of an action and the kinds of its parameters (JSON values);
- ``envelopes``: the frames, as Structs, of the domain sockets and of the ``/ws`` gateway;
- ``session``: one socket's life: handshake, dispatch, per-socket streams, bounded outbox;
- ``streams``: ticker streams (the hub's publications) and polled streams (the hub's pollers);
- one module per socket (``tickers``, ``accounts``, ...): its handlers and its action table.

This package's ``__init__`` imports nothing: ``routing`` imports ``ws.actions`` and
``ws.envelopes``, which must not pull in the handlers (they import ``routing``).
"""
