"""Post an iTero scan notification to a callback URL (itero-dpms-api.txt "Callback Request", Pushed data)."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx


async def post_notification(callback_url: str, rx_id: str, company_id: int, *,
                            hmac_secret: str | None = None, header: str = "x-scanbridge-signature",
                            client: httpx.AsyncClient | None = None) -> httpx.Response:
    body = json.dumps({"Id": rx_id, "CompanyId": company_id}).encode()
    headers = {"content-type": "application/json"}
    if hmac_secret:
        headers[header] = "sha256=" + hmac.new(hmac_secret.encode(), body, hashlib.sha256).hexdigest()
    if client is not None:
        return await client.post(callback_url, content=body, headers=headers)
    async with httpx.AsyncClient(timeout=30.0) as own:
        return await own.post(callback_url, content=body, headers=headers)
