"""``merge_openapi`` where test_hostdocs.py does not take it: an operation id the host already
uses, a host that already has the tag, and the renaming of references that this API's own
document does not have yet (a discriminator's mapping, as msgspec writes one for a tagged
union; a property named ``mapping``; a reference that is not to a component)."""

from __future__ import annotations

from typing import Any

import pytest

from fullon_cache_api import Settings, create_app, merge_openapi
from fullon_cache_api.openapi import _rename_refs

BASE: dict[str, Any] = {"openapi": "3.1.0", "info": {"title": "host", "version": "1"}}


def test_an_operation_id_the_host_uses_is_refused(settings: Settings) -> None:
    cache_app = create_app(settings)
    ours = next(iter(cache_app.state.openapi["paths"].values()))["get"]["operationId"]
    host = {**BASE, "paths": {"/mine": {"get": {"operationId": f"Cache_{ours}"}}}}
    with pytest.raises(ValueError) as refused:
        merge_openapi(host, cache_app)
    assert str(refused.value) == f"merge_openapi: operationId Cache_{ours} is taken"


def test_a_tag_the_host_has_is_not_added_again(settings: Settings) -> None:
    cache_app = create_app(settings)
    host = {**BASE, "paths": {}, "tags": [{"name": "Cache", "description": "the host's words"}]}
    merged = merge_openapi(host, cache_app)
    assert merged["tags"] == [{"name": "Cache", "description": "the host's words"}]
    assert all(item["get"]["tags"] == ["Cache"] for item in merged["paths"].values())


def test_references_are_renamed_in_a_discriminators_mapping_and_nowhere_else() -> None:
    renamed = {"schemas": {"Buy": "Cache_Buy", "Sell": "Cache_Sell"}}
    document: dict[str, Any] = {
        "oneOf": [{"$ref": "#/components/schemas/Buy"}, {"$ref": "#/components/schemas/Sell"}],
        "discriminator": {
            "propertyName": "side",
            "mapping": {"buy": "#/components/schemas/Buy", "sell": "#/components/schemas/Sell"},
        },
        "properties": {
            "mapping": {  # a property so named
                "$ref": "#/components/schemas/Buy",
                "properties": {"side": {"$ref": "#/components/schemas/Sell"}},
            },
            "other": {"$ref": "https://example.com/schema.json"},  # not a component
            "host": {"$ref": "#/components/schemas/HostOwn"},  # a component not ours
        },
    }
    _rename_refs(document, renamed)
    assert document == {
        "oneOf": [
            {"$ref": "#/components/schemas/Cache_Buy"},
            {"$ref": "#/components/schemas/Cache_Sell"},
        ],
        "discriminator": {
            "propertyName": "side",
            "mapping": {
                "buy": "#/components/schemas/Cache_Buy",
                "sell": "#/components/schemas/Cache_Sell",
            },
        },
        "properties": {
            "mapping": {
                "$ref": "#/components/schemas/Cache_Buy",
                "properties": {"side": {"$ref": "#/components/schemas/Cache_Sell"}},
            },
            "other": {"$ref": "https://example.com/schema.json"},
            "host": {"$ref": "#/components/schemas/HostOwn"},
        },
    }
