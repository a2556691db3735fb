"""The WebSocket protocol of fullon_cache_api v0.2.6 (see the README), served by the same app and
readers as the REST routes.

- ``actions``: the declaration of an action and the kinds of its parameters (JSON values);
- ``envelopes``: the frames, as Structs, of the domain sockets and of the ``/ws`` gateway;
- ``session``: one socket's life: handshake, dispatch, per-socket streams, bounded outbox;
- ``streams``: polled streams (the hub's pollers; ticker streams, from the hub's publications,
  are in ``tickers``);
- ``pages``: whole collections read through the REST readers' pages, at most 10,000 items;
- one module per socket (``tickers``, ``accounts``, ...): its handlers and its action table.

This package's ``__init__`` imports nothing: ``routing`` imports ``ws.actions`` and
``ws.envelopes``, which must not pull in the handlers (they import ``routing``).
"""
