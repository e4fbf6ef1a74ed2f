"""deploy/Dockerfile: parses and passes BuildKit's instruction linter; multi-stage, pinned base, a
non-root user, a healthcheck; the build context (.dockerignore) lets every package of pyproject in."""

from __future__ import annotations

import re
import tomllib

from tests.deploy.conftest import DEPLOY, ROOT, run, tool

DOCKERFILE = DEPLOY / "Dockerfile"


def test_the_dockerfile_parses_and_passes_the_linter() -> None:
    done = run(tool("deploycheck"), "dockerfile", DOCKERFILE)
    assert (done.returncode, done.stdout) == (0, f"{DOCKERFILE}: ok\n"), done.stdout + done.stderr


def test_the_image_is_multi_stage_pinned_non_root_and_checks_its_health() -> None:
    text = DOCKERFILE.read_text()
    pinned = r"^ARG PYTHON_IMAGE=python:\d+\.\d+\.\d+-slim-\w+$"
    assert re.search(pinned, text, re.M), "the base image is pinned to a patch release"
    stages = re.findall(r"^FROM \S+ AS (\w+)$", text, re.M)
    assert stages == ["build", "runtime"]
    runtime = text.split("AS runtime", 1)[1]
    assert "COPY --from=build /opt/scanbridge /opt/scanbridge" in runtime and "pip install" not in runtime
    assert re.search(r"^USER 10001:10001$", runtime, re.M)
    assert re.search(r"^HEALTHCHECK .*\n\s+CMD \[", runtime, re.M)
    assert 'ENTRYPOINT ["scanbridge"]' in runtime


def test_the_build_context_holds_every_package_and_nothing_else() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = {p.rstrip("*") for p in patterns["include"]}
    allowed = {line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.startswith("!")}
    assert packages | {"pyproject.toml", "README.md"} == allowed
    copied = set(re.findall(r"^COPY (\w+) \1$", DOCKERFILE.read_text(), re.M))
    assert copied == packages
