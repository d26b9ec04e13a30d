"""deploy/grafana/agentwire.json charts only metrics the services export."""

from __future__ import annotations

import json
import re
from pathlib import Path

from services.agent.observe import AGENT
from services.auth.metrics import AUTH
from services.tools.observe import TOOLS
from services.ws_gateway.metrics import GATEWAY

DASHBOARD = Path(__file__).parents[3] / "deploy" / "grafana" / "agentwire.json"


def _exported() -> set[str]:
    registries = (GATEWAY.registry, AGENT.registry, TOOLS.registry, AUTH.registry)
    return {name for registry in registries for name in registry.names()}


def test_every_agentwire_metric_on_the_dashboard_is_exported() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = {
        re.sub(r"_bucket$", "", name)
        for expr in exprs
        for name in re.findall(r"agentwire_[a-z_]+", expr)
    }
    assert used and used <= _exported(), used - _exported()
