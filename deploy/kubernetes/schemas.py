"""Make offline JSON schemas for kubeconform from the Kubernetes OpenAPI schemas that the PyPI package
`kubernetes-validate` ships (one folder per Kubernetes version).

    python deploy/kubernetes/schemas.py OUT_DIR PACKAGE==VERSION K8S_VERSION...

Its schemas point to a shared `_definitions.json` by an absolute URL (https://kubernetes.io/api/…),
which kubeconform would try to download. Each kind below is written as one standalone schema instead
(the definitions it reaches copied in, the references made local), named as kubeconform looks schemas
up: OUT_DIR/v{version}-standalone-strict/{kind}-{group}-{version}.json. Run by `make setup`.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

# The kinds deploy/kubernetes uses, and those an operator adds most often next to them.
KINDS = [
    "configmap-v1", "secret-v1", "service-v1", "serviceaccount-v1", "persistentvolumeclaim-v1",
    "namespace-v1", "deployment-apps-v1", "statefulset-apps-v1", "poddisruptionbudget-policy-v1",
    "horizontalpodautoscaler-autoscaling-v2", "networkpolicy-networking-v1", "ingress-networking-v1",
]
REF = re.compile(r"^/api/_definitions\.json#/\$defs/(.+)$")


def _localize(node: Any, wanted: set[str]) -> Any:
    """A copy of `node` with definition references made local; collects the names referenced."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                if match := REF.match(value):
                    wanted.add(match.group(1))
                    value = f"#/$defs/{match.group(1)}"
                elif value.startswith("#/$defs/"):
                    wanted.add(value.removeprefix("#/$defs/"))
            out[key] = _localize(value, wanted)
        return out
    if isinstance(node, list):
        return [_localize(item, wanted) for item in node]
    return node


def standalone(kind: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    wanted: set[str] = set()
    schema = _localize(kind, wanted)
    schema.pop("$id", None)
    defs: dict[str, Any] = {}
    while pending := wanted - defs.keys():
        for name in sorted(pending):
            defs[name] = _localize(definitions[name], wanted)
    schema["$defs"] = defs
    return schema


def extract(wheel: Path, out: Path, versions: list[str]) -> None:
    with zipfile.ZipFile(wheel) as archive:
        for version in versions:
            source = f"kubernetes_validate/kubernetes-json-schema/v{version}-local-strict"
            definitions = json.loads(archive.read(f"{source}/_definitions.json"))["$defs"]
            target = out / f"v{version}-standalone-strict"
            target.mkdir(parents=True, exist_ok=True)
            for kind in KINDS:
                schema = standalone(json.loads(archive.read(f"{source}/{kind}.json")), definitions)
                (target / f"{kind}.json").write_text(json.dumps(schema, separators=(",", ":")))


def main(out: Path, package: str, versions: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, package],
                       check=True)
        [wheel] = Path(tmp).glob("*.whl")
        extract(wheel, out, versions)
    (out / ".complete").write_text(f"{package} {' '.join(versions)}\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], sys.argv[3:])
