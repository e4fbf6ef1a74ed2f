"""Error bodies shaped as meditlink-openapi.txt §2.3.2 (timestamp, status, error, message, path),
also used by the token endpoint (FAQ: `invalid_grant` with status 400), and S3-style XML for URLs.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from simulators.meditlink.records import iso_millis


class MeditError(Exception):
    """Raised by an endpoint; rendered by `handle_medit_error` in the documented error shape."""

    def __init__(self, status: int, error: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.headers = headers or {}


class S3Error(Exception):
    """Raised by the pre-signed URL endpoints; rendered as Amazon S3 renders its errors."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(
    request: Request, status: int, error: str, message: str, headers: dict[str, str]
) -> Response:
    body = {
        "timestamp": iso_millis(request.app.state.sim.now()),
        "status": status,
        "error": error,
        "message": message,
        "path": request.url.path,
    }
    return JSONResponse(body, status_code=status, headers=headers)


async def handle_medit_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MeditError)
    return error_response(request, exc.status, exc.error, exc.message, exc.headers)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
    return error_response(request, exc.status_code, error, str(exc.detail), dict(exc.headers or {}))


async def handle_s3_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, S3Error)
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{exc.code}</Code><Message>{exc.message}</Message>"
        f"<RequestId>{request.app.state.sim.new_secret()[:16].upper()}</RequestId></Error>"
    )
    return Response(body, status_code=exc.status, media_type="application/xml")
