"""The receiver's OpenAPI document: valid OpenAPI 3.1, served at /openapi.json, and true to the app —
every route the app has is documented with its methods, and nothing else is."""

from __future__ import annotations

from pathlib import Path

import httpx
from openapi_spec_validator import validate
from starlette.routing import Route

from bus.local import LocalBus
from scanbridge.receiving import create_app
from schemas.openapi import document
from tests.security.conftest import receiver_settings
from tests.servers import serve


def test_the_document_is_valid_openapi() -> None:
    validate(document())  # raises on any violation of the OpenAPI 3.1 schema


def test_every_route_of_the_app_is_documented_with_its_methods(tmp_path: Path) -> None:
    settings = receiver_settings(tmp_path)
    app = create_app(settings, LocalBus(settings.bus.local_path))
    served: dict[str, set[str]] = {}
    for route in app.routes:
        assert isinstance(route, Route)
        path = route.path.replace(":str}", "}")
        served.setdefault(path, set()).update(m.lower() for m in route.methods or () if m != "HEAD")
    documented = {path: set(item) for path, item in document()["paths"].items()}
    assert served == documented


async def test_the_receiver_serves_its_document(tmp_path: Path) -> None:
    settings = receiver_settings(tmp_path)
    async with serve(create_app(settings, LocalBus(settings.bus.local_path))) as url:
        async with httpx.AsyncClient() as http:
            response = await http.get(f"{url}/openapi.json")
    assert response.status_code == 200 and response.json() == document()
