"""Loads the notification rules file (YAML) into `tracking.notify.NotificationRules`,
validating it at the edge so a typo in a kind fails the worker's start, not a shopper."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tracking.notify import ALL_KINDS, NotificationRules, RuleOverride

DEFAULT_RULES_FILE = Path(__file__).resolve().parent / "notification_rules.yaml"


def _known(kinds: list[str] | None) -> list[str] | None:
    unknown = sorted(set(kinds or ()) - ALL_KINDS)
    if unknown:
        raise ValueError(f"unknown notification kinds {unknown}; known: {sorted(ALL_KINDS)}")
    return kinds


class OverrideSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kinds: list[str] | None = None
    add: list[str] = Field(default_factory=list)
    drop: list[str] = Field(default_factory=list)
    eta_moved_hours: float | None = Field(None, gt=0)

    _check_kinds = field_validator("kinds", "add", "drop")(_known)

    def to_override(self) -> RuleOverride:
        return RuleOverride(
            kinds=frozenset(self.kinds) if self.kinds is not None else None,
            add=frozenset(self.add),
            drop=frozenset(self.drop),
            eta_moved_ms=int(self.eta_moved_hours * 3_600_000) if self.eta_moved_hours else None,
        )


class RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: OverrideSpec
    services: dict[str, OverrideSpec] = Field(default_factory=dict)
    segments: dict[str, OverrideSpec] = Field(default_factory=dict)


def load_rules(path: Path = DEFAULT_RULES_FILE) -> NotificationRules:
    spec = RulesFile.model_validate(yaml.safe_load(path.read_text()) or {})
    if spec.default.kinds is None or spec.default.eta_moved_hours is None:
        raise ValueError(f"{path}: `default` needs `kinds` and `eta_moved_hours`")
    return NotificationRules(
        default=spec.default.to_override(),
        services={name: o.to_override() for name, o in spec.services.items()},
        segments={name: o.to_override() for name, o in spec.segments.items()},
    )
