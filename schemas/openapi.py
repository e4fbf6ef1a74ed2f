"""The OpenAPI 3.1 document of the receiver's HTTP routes (README "Security": what each route accepts and
how it refuses). The receiver serves it at `/openapi.json`; tests check it against the OpenAPI schema
and against the routes the app really has. Vendor docs: itero-dpms-api.txt "Callback Request", Align lab
guideline §3.5, meditlink-openapi.txt §3.4.2 (`callbackUrl`) and §1.2.1 (authorization-code redirect).
"""

from __future__ import annotations

from typing import Any

VERSION = "1.0.0"

_ERROR = {"$ref": "#/components/responses/Error"}
_REF_ERROR = {"$ref": "#/components/schemas/Error"}
_TOKEN = {
    "name": "token", "in": "path", "required": True,
    "description": "The connection's secret path token (webhook.token, at least 22 characters). A wrong "
                   "token is answered 404 without detail.",
    "schema": {"type": "string", "minLength": 1},
}
_SIGNATURE = {
    "name": "x-scanbridge-signature", "in": "header", "required": False,
    "description": "`sha256=<hex>` HMAC-SHA256 of the raw body, required when the connection has an "
                   "hmac_secret; several space-separated values are accepted (rotation). The header "
                   "name is configurable (webhook.hmac_header).",
    "schema": {"type": "string"},
}
_BODY_RULES = ("The body is at most receiver.max_body_bytes (64 KiB by default) of UTF-8 JSON (a BOM is "
               "tolerated) with no lone surrogate escapes, no NaN or Infinity, integers within 4,300 "
               "digits and at most 32 levels of nesting; anything else is a 4xx JSON error and nothing "
               "is published. A 2xx is sent only once the inbound record and its scan.notified event "
               "are durable.")


def _webhook(summary: str, body: dict[str, Any], accepted: str) -> dict[str, Any]:
    return {
        "summary": summary,
        "description": _BODY_RULES,
        "parameters": [_TOKEN, _SIGNATURE],
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {
            "202": _json("Stored durably and announced.", {"$ref": f"#/components/schemas/{accepted}"}),
            "400": _ERROR, "401": _ERROR, "404": _ERROR, "413": _ERROR, "415": _ERROR, "422": _ERROR,
            "503": {"$ref": "#/components/responses/Unavailable"},
        },
    }


def _get(summary: str, ok: dict[str, Any], **responses: Any) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": {"200": ok, **responses}}}


def _json(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": schema or {"type": "object"}}}}


def document() -> dict[str, Any]:
    """The receiver's OpenAPI document (the same for every deployment: it names no host or secret)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "scanbridge receiver",
            "version": VERSION,
            "description": "Webhook routes the scanner clouds call, the Medit Link OAuth redirect, and "
                           "the operational routes. Every refusal is a JSON error; no client input "
                           "gets a 5xx (503 means the bus could not store the event: retry).",
        },
        "paths": {
            **{f"/hooks/{vendor}/{{token}}": {"post": _webhook(
                f"{name} scan notification",
                {"$ref": "#/components/schemas/IteroNotification"}, "Accepted",
            ) | {"parameters": [_TOKEN, _SIGNATURE]}}
               for vendor, name in (("itero", "iTero"), ("align", "Align"))},
            "/hooks/meditlink/{token}": {"post": _webhook(
                "Medit Link upload callback",
                {"$ref": "#/components/schemas/MeditCallback"}, "MeditAccepted",
            )},
            "/oauth/meditlink/callback": {"get": {
                "summary": "Medit Link authorization-code redirect (meditlink-openapi.txt §1.2.1 Step #3)",
                "parameters": [
                    {"name": "state", "in": "query", "required": False, "schema": {"type": "string"},
                     "description": "The value `scanbridge connect meditlink` issued (single use, 15 min)."},
                    {"name": "code", "in": "query", "required": False, "schema": {"type": "string"}},
                    {"name": "error", "in": "query", "required": False, "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": _json("The connection is authorized; its tokens are stored for the workers."),
                    "400": _ERROR,
                    "502": _json("The token endpoint could not be reached.", _REF_ERROR),
                },
            }},
            "/healthz": _get("Liveness", _json("The process runs.")),
            "/readyz": _get("Readiness", _json("The bus answers."),
                            **{"503": _json("The bus is unreachable.")}),
            "/metrics": _get("Prometheus metrics", {
                "description": "Text exposition format.",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }),
            "/asyncapi.json": _get("The event contract (AsyncAPI 3.0)", _json("The AsyncAPI document.")),
            "/openapi.json": _get("This document", _json("The OpenAPI document.")),
        },
        "components": {
            "schemas": {
                "IteroNotification": {
                    "type": "object",
                    "description": "itero-dpms-api.txt \"Callback Request\". Names are matched in any case; "
                                   "other fields are ignored (kept verbatim in the inbound record).",
                    "properties": {
                        "Id": {"type": "string", "description": "The Rx GUID ({…}, urn:uuid: and no-dash "
                               "spellings accepted)", "examples": ["3f2504e0-4f89-11d3-9a0c-0305e82c3301"]},
                        "CompanyId": {"type": ["integer", "string"], "pattern": "^[0-9]{1,20}$",
                                      "description": "The paired account: up to 20 ASCII digits; "
                                                     "must be the connection's company_id when it has one."},
                    },
                    "required": ["Id"],
                },
                "MeditCallback": {
                    "type": "object",
                    "description": "Not documented by Medit: any JSON object is accepted and kept verbatim. "
                                   "Recognised ids (fileUuid, caseUuid, orderNumber, status, uuid; any case, "
                                   "nested up to 4 levels) of the wrong shape are refused with 422: an order "
                                   "number is digits, a uuid a URL-safe token.",
                },
                "Accepted": {
                    "type": "object", "required": ["accepted", "event_id"],
                    "properties": {"accepted": {"const": True}, "event_id": {"type": "string"}},
                },
                "MeditAccepted": {
                    "type": "object", "required": ["accepted", "event_id", "recognised"],
                    "properties": {
                        "accepted": {"const": True}, "event_id": {"type": "string"},
                        "recognised": {"type": "array", "items": {
                            "enum": ["case_id", "file_id", "order_id", "status"]}},
                    },
                },
                "Error": {
                    "type": "object", "required": ["error", "message"],
                    "properties": {"error": {"type": "string", "description": "A stable code."},
                                   "message": {"type": "string"}},
                },
            },
            "responses": {
                "Error": _json("Refused; nothing was published.", _REF_ERROR),
                "Unavailable": {
                    "description": "The event could not be stored durably; retry after Retry-After seconds.",
                    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                    "content": {"application/json": {"schema": _REF_ERROR}},
                },
            },
        },
    }
