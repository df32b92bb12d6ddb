"""deploy/compose: `docker-compose config` accepts it (Debian's docker-compose), and the
resolved file keeps the deployment's invariants."""

from __future__ import annotations

from typing import Any

import yaml

from tests.deploy.tooling import DEPLOY, run, unknown_settings

COMPOSE = DEPLOY / "compose"


def resolved() -> dict[str, Any]:
    text = run("docker-compose", "--env-file", "parcelstream.env", "config", cwd=COMPOSE)
    config: dict[str, Any] = yaml.safe_load(text)
    return config


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """target -> source of a service's volumes, long or short ("src:target[:mode]") syntax."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source", ""), volume["target"]
        found[target] = source
    return found


def test_compose_config_and_invariants() -> None:
    config = resolved()
    services = config["services"]
    assert {"kafka", "clickhouse", "sink", "webhook", "prometheus", "grafana"} <= set(services)
    ours = {
        name: s for name, s in services.items() if s.get("image", "").startswith("parcelstream")
    }
    workers = [name for name, s in ours.items() if s["command"] == ["worker"]]
    assert len(workers) == 2
    for name, service in ours.items():
        env = service["environment"]
        assert env["PARCELSTREAM_KAFKA_BOOTSTRAP"] == "kafka:9092", name
        assert env["PARCELSTREAM_SINK_IN_WORKER"] == "false", name  # the sink runs apart
        assert env["PARCELSTREAM_CLICKHOUSE_URL"].startswith("clickhouse://"), name
        assert not unknown_settings(env), (name, unknown_settings(env))
    # Each worker serves the lookup API, reachable by the other under its own name.
    api_urls = {ours[w]["environment"]["PARCELSTREAM_API_URL"] for w in workers}
    assert api_urls == {f"http://{w}:8090" for w in workers}
    assert all(ours[w]["environment"]["PARCELSTREAM_API_HOST"] == "0.0.0.0" for w in workers)
    assert ours[workers[0]]["environment"]["PARCELSTREAM_API_LINK_SECRET"], "shared link secret"
    # Each worker keeps its own state store on a volume of its own.
    assert len({mounts(ours[w])["/var/lib/parcelstream"] for w in workers}) == 2
    # The workers do not outnumber the partitions (a worker beyond them idles).
    assert len(workers) <= int(ours[workers[0]]["environment"]["PARCELSTREAM_PARTITIONS"])
    # Prometheus scrapes every worker and the sink on the ports they serve.
    scrape = yaml.safe_load((COMPOSE / "prometheus.yml").read_text())
    targets = {
        t for job in scrape["scrape_configs"] for c in job["static_configs"] for t in c["targets"]
    }
    assert targets == {f"{w}:6066" for w in workers} | {"sink:6067"}
    assert ours["sink"]["environment"]["PARCELSTREAM_SINK_METRICS_PORT"] == "6067"
    # Grafana gets the dashboard and the data source provisioned; Prometheus the alert rules.
    grafana, prometheus = mounts(services["grafana"]), mounts(services["prometheus"])
    dashboard = grafana["/var/lib/grafana/dashboards/parcelstream.json"]
    assert dashboard == str(DEPLOY / "grafana" / "parcelstream.json")
    assert prometheus["/etc/prometheus/alerts.yml"] == str(DEPLOY / "prometheus" / "alerts.yml")
