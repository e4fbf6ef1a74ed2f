"""One error type for the receiver and the handlers that turn errors into JSON answers."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from bus.errors import BusUnavailable, EventTooLarge
from state.errors import StateError, StateUnavailable

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A client-facing error: status, a stable code and a message without secrets or PII."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    log.info("request refused", extra={"path_kind": _route(request), "status": exc.status, "code": exc.code})
    return JSONResponse({"error": exc.code, "message": exc.message}, status_code=exc.status)


async def _bus_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("bus unavailable; vendor told to retry", extra={"path_kind": _route(request)})
    return JSONResponse(
        {"error": "unavailable", "message": "the event could not be stored durably; retry later"},
        status_code=503,
        headers={"Retry-After": "30"},
    )


async def _state_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("state store unavailable; client told to retry", extra={"path_kind": _route(request)})
    return JSONResponse(
        {"error": "unavailable", "message": "the state store did not answer; retry later"},
        status_code=503,
        headers={"Retry-After": "30"},
    )


async def _state_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("state store error: %s", exc, extra={"path_kind": _route(request)})  # names the connection
    return JSONResponse({"error": "state_error", "message": "a stored state could not be read"},
                        status_code=500)


async def _event_too_large(request: Request, exc: Exception) -> JSONResponse:
    log.warning("event refused by the bus for its size", extra={"path_kind": _route(request)})
    return JSONResponse(
        {"error": "too_large", "message": "the event is larger than the bus accepts"}, status_code=413
    )


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:  # an unknown route answers like an unknown token (README: no detail)
        return JSONResponse({"error": "not_found", "message": "not found"}, status_code=404)
    return JSONResponse(
        {"error": "http_error", "message": exc.detail}, status_code=exc.status_code
    )


def _route(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "path", "?")


EXCEPTION_HANDLERS = {
    ApiError: _api_error,
    BusUnavailable: _bus_unavailable,
    EventTooLarge: _event_too_large,
    StateUnavailable: _state_unavailable,
    StateError: _state_error,
    HTTPException: _http_exception,
}
