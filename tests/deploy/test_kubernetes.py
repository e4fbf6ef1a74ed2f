"""deploy/kubernetes: valid objects for Kubernetes 1.30 and 1.37 (kubeconform, strict, with schemas
made offline from the Kubernetes OpenAPI), probes and resources on every workload, a disruption budget
for each, and a configuration that loads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from scanbridge.configload import load_settings
from schemas.settings import CONFIG_ENV
from state.factory import make_state_store
from tests.deploy.conftest import DEPLOY, TOOLS, run, secret_files, tool

MANIFESTS = DEPLOY / "kubernetes"
SECRETS = "/run/secrets/scanbridge"
SCHEMAS = ("{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/"
           "{{ .ResourceKind }}{{ .KindSuffix }}.json")


def _objects() -> list[dict[str, Any]]:
    out = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            out += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return out


def _kubeconform(*paths: Path, version: str) -> tuple[int, str]:
    done = run(tool("kubeconform"), "-strict", "-summary", "-kubernetes-version", version,
               "-schema-location", f"{TOOLS / 'k8s-schemas'}/{SCHEMAS}",
               "-ignore-filename-pattern", "kustomization", *paths)
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("version", ["1.30.0", "1.37.0"])
def test_every_manifest_is_a_valid_kubernetes_object(version: str) -> None:
    code, out = _kubeconform(MANIFESTS, version=version)
    count = len(_objects())
    assert code == 0, out
    assert f"Valid: {count}, Invalid: 0, Errors: 0, Skipped: 0" in out


def test_an_invalid_manifest_is_refused_so_the_schemas_are_really_applied(tmp_path: Path) -> None:
    receiver = yaml.safe_load_all((MANIFESTS / "receiver.yaml").read_text())
    statefulset = next(receiver)
    statefulset["spec"]["replicas"] = "two"
    statefulset["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(statefulset))
    code, out = _kubeconform(broken, version="1.37.0")
    assert code == 1
    assert "additional properties 'imagePullPolicyy' not allowed" in out and "/spec/replicas" in out


def test_every_workload_has_probes_requests_a_non_root_user_and_a_disruption_budget() -> None:
    objects = _objects()
    budgets = [o["spec"]["selector"]["matchLabels"] for o in objects if o["kind"] == "PodDisruptionBudget"]
    workloads = [o for o in objects if o["kind"] in ("Deployment", "StatefulSet")]
    components = {w["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] for w in workloads}
    assert components == {"receiver", "worker", "poller", "deliver", "console"}
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            console = container["args"] == ["console"]  # no health routes: its sign-in page
            assert container["readinessProbe"]["httpGet"]["path"] == ("/signin" if console else "/readyz")
            assert container["livenessProbe"]["httpGet"]["path"] == ("/signin" if console else "/healthz")
            assert set(container["resources"]["requests"]) == {"cpu", "memory"}
            assert "memory" in container["resources"]["limits"]
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["args"][0] in ("receiver", "worker", "poller", "deliver", "console")
        labels = workload["spec"]["selector"]["matchLabels"]
        assert labels in budgets, f"no PodDisruptionBudget for {workload['metadata']['name']}"


def test_pollers_and_workers_run_several_replicas_as_leases_and_the_consumer_group_share_work() -> None:
    workloads = {o["metadata"]["name"]: o for o in _objects() if o["kind"] in ("Deployment", "StatefulSet")}
    poller = workloads["scanbridge-poller"]["spec"]
    assert poller["replicas"] > 1  # a connection is polled by its lease holder only
    assert poller["strategy"]["type"] == "RollingUpdate"  # two pollers overlapping is safe with leases
    assert workloads["scanbridge-worker"]["spec"]["replicas"] > 1


def test_no_pod_shares_a_disk_state_is_in_postgres_and_artifacts_in_s3() -> None:
    objects = _objects()
    assert not [o for o in objects if o["kind"] == "PersistentVolumeClaim"]  # the RWX claim is gone
    for workload in (o for o in objects if o["kind"] in ("Deployment", "StatefulSet")):
        volumes = workload["spec"]["template"]["spec"]["volumes"]
        assert not [v for v in volumes if "persistentVolumeClaim" in v], workload["metadata"]["name"]
        for claim in workload["spec"].get("volumeClaimTemplates", []):  # the receiver's own spool
            assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_every_secret_a_pod_or_the_configuration_names_is_in_the_example_secret() -> None:
    objects = _objects()
    secret = next(o for o in objects if o["kind"] == "Secret")
    keys = set(secret["stringData"])
    mounted = set()
    for workload in (o for o in objects if o["kind"] in ("Deployment", "StatefulSet")):
        pod = workload["spec"]["template"]["spec"]
        mounted |= {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
        for container in pod["containers"]:
            assert {"name": "secrets", "mountPath": SECRETS, "readOnly": True} in container["volumeMounts"]
    assert mounted == {secret["metadata"]["name"]}
    toml = next(o for o in objects if o["kind"] == "ConfigMap")["data"]["scanbridge.toml"]
    named = set(re.findall(rf"^\s*\w+ = \"{SECRETS}/([\w.-]+)\"", toml, re.M))  # not the commented ones
    assert {"postgres-dsn", "credentials-keys", "privacy-hash-key", "kafka-password", "console-admin-secret",
            "console-session-key"} <= named
    assert named <= keys, named - keys


def test_kustomization_lists_every_manifest_but_the_example_secret() -> None:
    listed = set(yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())["resources"])
    present = {p.name for p in MANIFESTS.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert listed == present


def test_the_configmap_configuration_loads_with_the_secret_files_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configmap = next(o for o in _objects() if o["kind"] == "ConfigMap")
    secret = next(o for o in _objects() if o["kind"] == "Secret")
    folder = secret_files(tmp_path, list(secret["stringData"]))
    config = tmp_path / "scanbridge.toml"
    config.write_text(configmap["data"]["scanbridge.toml"].replace("/run/secrets/scanbridge", str(folder)))
    (folder / "kafka-ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv(CONFIG_ENV, str(config))
    monkeypatch.delenv("KAFKA_BOOTSTRAP", raising=False)
    settings = load_settings()
    kafka = settings.bus.kafka
    assert (kafka.security_protocol, kafka.create_topics) == ("SASL_SSL", False)
    assert (settings.state.backend, settings.storage.backend) == ("postgres", "s3")
    assert kafka.sasl_password is not None and kafka.sasl_password.get_secret_value() == "stand-in"
    assert (settings.receiver.port, settings.ops.port) == (8700, 8710)  # the ports the probes use
    store = make_state_store(settings.state, environ={})  # the credentials key from the Secret, not the env
    assert store is not None and settings.privacy.hash_key is not None
    assert settings.console.enabled and settings.console.session_key is not None
    services = {o["metadata"]["name"]: o for o in _objects() if o["kind"] == "Service"}
    console = services["scanbridge-console"]
    assert console["spec"]["type"] == "ClusterIP"  # inside the cluster only: no Ingress routes to it
    ingress = next(o for o in _objects() if o["kind"] == "Ingress")
    backends = {p["backend"]["service"]["name"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]}
    assert backends == {"scanbridge-receiver"}
