"""The upload callback: after post-processing, Medit POSTs the result to the `callbackUrl` given to
`POST /v1/files` (meditlink-openapi.txt §3.4.2, Appendix B step 3). The doc does not show the payload;
the simulator sends a plausible JSON object in the API's camelCase.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from simulators.meditlink.records import CallbackRecord, Registration, iso

if TYPE_CHECKING:
    from simulators.meditlink.state import MeditSimState

MESH_SUFFIXES = (".obj", ".stl", ".ply")


def processed_name(name: str) -> str:
    """§3.4.4's example: an uploaded `mandible.obj` becomes `mandible.obj.general.meditMesh`."""
    return f"{name}.general.meditMesh" if name.lower().endswith(MESH_SUFFIXES) else name


async def finish_upload(state: MeditSimState, registration: Registration, *, success: bool) -> CallbackRecord:
    """Attach the uploaded file to its case (on success) and POST the result to its callbackUrl.
    A registration that was never uploaded always fails."""
    success = success and registration.uploaded_size is not None
    name = processed_name(registration.name)
    if success and not registration.processed:
        # The attached file keeps the uuid the registration returned.
        size = registration.uploaded_size or 0
        state.add_file(registration.case_uuid, name, size, "ATTACHED_DATA", file_uuid=registration.uuid)
    registration.processed = True
    payload: dict[str, object] = {
        "uuid": registration.uuid,
        "caseUuid": registration.case_uuid,
        "name": name if success else registration.name,
        "size": registration.size,
        "fileType": "ATTACHED_DATA",
        "status": "SUCCESS" if success else "FAILED",
        "message": "" if success else "File post-processing failed",
        "dateUpdated": iso(state.now_ms()),
    }
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as client:
            response = await client.post(registration.callback_url, json=payload)
        record = CallbackRecord(registration.callback_url, payload, response.status_code)
    except httpx.HTTPError as exc:
        record = CallbackRecord(registration.callback_url, payload, None, f"{type(exc).__name__}: {exc}")
    state.callbacks.append(record)
    return record
