"""deploy/helm/parcelstream: `helm lint` and `helm template` pass, and the rendered manifests
keep the invariants a production cluster relies on."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml

from tests.deploy.tooling import DEPLOY, run, tool, unknown_settings

CHART = DEPLOY / "helm" / "parcelstream"
WORKLOADS = ("StatefulSet", "Deployment")


def render(*sets: str) -> list[dict[str, Any]]:
    args = ["helm", "template", "ps", str(CHART), "--api-versions", "monitoring.coreos.com/v1"]
    for value in sets:
        args += ["--set", value]
    return [doc for doc in yaml.safe_load_all(run(*args)) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def test_lint() -> None:
    run("helm", "lint", "--strict", str(CHART))


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    return render("worker.apiPublicUrl=https://track.example.com")  # all the chart renders


def test_every_container_has_probes_limits_and_runs_as_non_root(
    manifests: list[dict[str, Any]],
) -> None:
    workloads = [doc for doc in manifests if doc["kind"] in WORKLOADS]
    components = {w["metadata"]["name"].removeprefix("ps-parcelstream-") for w in workloads}
    assert components == {"worker", "sink", "webhook"}
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        name = workload["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] > 0, name
        for container in pod["containers"]:
            for probe in ("readinessProbe", "livenessProbe"):
                assert container[probe]["httpGet"]["path"].startswith("/"), (name, probe)
            limits, requests = container["resources"]["limits"], container["resources"]["requests"]
            assert {"cpu", "memory"} <= set(limits) and {"cpu", "memory"} <= set(requests), name
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            assert security.get("runAsUser", pod["securityContext"]["runAsUser"]) != 0, name


def test_workers_keep_state_on_volumes_and_never_outnumber_partitions(
    manifests: list[dict[str, Any]],
) -> None:
    (workers,) = by_kind(manifests, "StatefulSet")
    (config,) = by_kind(manifests, "ConfigMap")
    partitions = int(config["data"]["PARCELSTREAM_PARTITIONS"])
    assert 1 <= workers["spec"]["replicas"] <= partitions
    assert config["data"]["PARCELSTREAM_SINK_IN_WORKER"] == "false"
    assert not unknown_settings(config["data"]), unknown_settings(config["data"])
    (claim,) = workers["spec"]["volumeClaimTemplates"]
    (container,) = workers["spec"]["template"]["spec"]["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == config["data"]["PARCELSTREAM_STATE_DIR"]

    for replicas, partitions in ((13, 12), (5, 4)):
        result = subprocess.run(
            [tool("helm"), "template", "ps", str(CHART), "--set", f"worker.replicas={replicas}",
             "--set", f"partitions={partitions}"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode != 0 and "exceeds partitions" in result.stderr, result.stderr
    assert (
        by_kind(render("worker.replicas=4", "partitions=4"), "StatefulSet")[0]["spec"]["replicas"]
        == 4
    )


def test_disruption_budgets_autoscaling_and_services(manifests: list[dict[str, Any]]) -> None:
    def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in selector.items())

    budgets = by_kind(manifests, "PodDisruptionBudget")
    services = by_kind(manifests, "Service")
    scalers = {
        h["spec"]["scaleTargetRef"]["name"] for h in by_kind(manifests, "HorizontalPodAutoscaler")
    }
    for workload in (doc for doc in manifests if doc["kind"] in WORKLOADS):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        name = workload["metadata"]["name"]
        assert any(selects(b["spec"]["selector"]["matchLabels"], labels) for b in budgets), name
        assert any(selects(s["spec"]["selector"], labels) for s in services), name
        if workload["kind"] == "Deployment" and not name.endswith("-sink"):
            assert name in scalers, f"{name} has no HPA"


def test_secrets_stay_out_of_values_and_monitoring_covers_every_process(
    manifests: list[dict[str, Any]],
) -> None:
    assert not by_kind(manifests, "Secret"), "no Secret is rendered unless asked for"
    (config,) = by_kind(manifests, "ConfigMap")
    assert not [k for k in config["data"] if any(s in k for s in ("URL", "SECRET", "PASSWORD"))]
    (monitor,) = by_kind(manifests, "ServiceMonitor")
    (component,) = monitor["spec"]["selector"]["matchExpressions"]
    assert set(component["values"]) == {"worker", "sink"}
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]
    for service in by_kind(manifests, "Service"):  # the monitor selects Services by label
        if service["metadata"]["labels"]["app.kubernetes.io/component"] in component["values"]:
            assert "metrics" in [p["name"] for p in service["spec"]["ports"]]
    (rule,) = by_kind(manifests, "PrometheusRule")
    alerts = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    assert rule["spec"]["groups"] == alerts["groups"]


def test_every_worker_serves_the_lookup_api_under_its_own_stable_name(
    manifests: list[dict[str, Any]],
) -> None:
    (workers,) = by_kind(manifests, "StatefulSet")
    (container,) = workers["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    governing = workers["spec"]["serviceName"]
    assert env["PARCELSTREAM_API_URL"] == f"http://$(POD_NAME).{governing}:8090"
    assert env["PARCELSTREAM_API_HOST"] == "0.0.0.0"
    assert env["PARCELSTREAM_API_PUBLIC_URL"] == "https://track.example.com"
    assert not unknown_settings({k: v for k, v in env.items() if k != "POD_NAME"})
    assert "api" in [p["name"] for p in container["ports"]]
    (api,) = [s for s in by_kind(manifests, "Service") if s["metadata"]["name"].endswith("-api")]
    labels = workers["spec"]["template"]["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in api["spec"]["selector"].items())
    assert api["spec"]["ports"][0]["targetPort"] == "api"
