"""Plain async handlers, one per route: parsed parameters in (``Ctx`` first), a Struct out (or a
Starlette ``Response`` for text, files and streams). Each module's docstring describes its group
of routes in the API docs."""
