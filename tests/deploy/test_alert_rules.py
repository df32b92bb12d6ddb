"""deploy/prometheus/alerts.yml is valid for promtool and each alert fires on its series and
stays quiet beside them (alerts.test.yml); the Grafana dashboard's queries parse as PromQL."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.deploy.tooling import DEPLOY, run

PROMETHEUS = DEPLOY / "prometheus"


def test_rules_check() -> None:
    assert "SUCCESS: 9 rules found" in run(
        "promtool", "check", "rules", "alerts.yml", cwd=PROMETHEUS
    )


def test_rules_unit_tests() -> None:
    assert "SUCCESS" in run("promtool", "test", "rules", "alerts.test.yml", cwd=PROMETHEUS)


def test_dashboard_queries_parse(tmp_path: Path) -> None:
    """promtool has no offline PromQL parser in Debian's 2.42, but `check rules` parses every
    expression: the dashboard's queries (Grafana's variables substituted) as recording rules."""
    dashboard = json.loads((DEPLOY / "grafana" / "parcelstream.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(exprs) >= 15
    rules = [
        {"record": f"dashboard:query{i}",
         "expr": expr.replace("$__rate_interval", "1m").replace("$job", ".*")}
        for i, expr in enumerate(exprs)
    ]  # fmt: skip
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    assert f"SUCCESS: {len(rules)} rules found" in run("promtool", "check", "rules", str(path))
