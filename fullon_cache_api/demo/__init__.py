"""The demo: a private redis-server, the sample data in fullon_cache's layout, and a feeder
that keeps it moving. Nothing here is used by the API itself (which only reads)."""
