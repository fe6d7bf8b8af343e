"""The published contract: the app's OpenAPI document as docs/openapi.json keeps it."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

__all__ = ["openapi_document", "openapi_text"]


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The published contract (``docs/openapi.json`` is this, written by ``callscribe openapi``)."""
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    _validation_errors_as_detail(document)
    return document


def _validation_errors_as_detail(document: dict[str, Any]) -> None:
    """Describe 422 as the app answers it (``ErrorBody``), not as FastAPI's default list."""
    default = "#/components/schemas/HTTPValidationError"
    ours = "#/components/schemas/ErrorBody"
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            content = operation.get("responses", {}).get("422", {}).get("content", {})
            for media in content.values():
                if media.get("schema", {}).get("$ref") == default:
                    media["schema"] = {"$ref": ours}
    schemas = document.get("components", {}).get("schemas", {})
    if default.rsplit("/", 1)[1] not in json.dumps(document.get("paths", {})):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)


def openapi_text(app: FastAPI) -> str:
    """:func:`openapi_document` as the text kept in docs/ (stable key order, UTF-8)."""
    return json.dumps(openapi_document(app), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
