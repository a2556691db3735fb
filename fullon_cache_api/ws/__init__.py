"""The WebSocket protocol of fullon_cache_api v0.2.6 (see the README), served by the same app and
readers as the REST routes.

- ``session``: one socket's life: handshake, dispatch, per-socket streams, bounded outbox;
- ``streams``: polled streams (the hub's pollers; ticker streams, from the hub's publications,
  are in ``tickers``);
- ``pages``: whole collections read through the REST readers' pages, at most 10,000 items;
- one module per socket (``tickers``, ``accounts``, ...): its handlers and its action table.

The protocol's declarations (an action and its arguments: ``actions``; the frames:
``envelopes``) are one layer below, with the route table's other declaration types.
"""
