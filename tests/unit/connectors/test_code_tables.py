"""Every code in a carrier's published list is mapped, and mapped on purpose.

`connectors/mappings/<name>.codes` holds the carrier's published code list as data (sources in
the leading "#" lines of `<name>.csv`); X12 214 adds `x12_214.reasons`, the AT7-02 reason list,
because the connector builds "STATUS-REASON" codes. A row mapped to `unknown` must say why:
such a code is not status evidence, so it keeps the parcel's current status (tracking/state.py
skips it).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tracking.normalize import MAPPINGS_DIR, load_mapping
from tracking.taxonomy import Reason, Status

CARRIERS = ["fedex", "ups", "usps", "dhl", "postnl", "canadapost", "x12_214"]
# The AT7-01 statuses whose meaning the AT7-02 reason completes (an attempt that failed for a
# consignee reason is not one that failed for weather); every reason is listed with each of them.
X12_REASON_STATUSES = ("AH", "AP", "SD")
WHY_UNKNOWN = "keeps the current status"


def listed(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [code for line in lines if not line.startswith("#") for code in line.split()]


def rows(path: Path) -> list[dict[str, str]]:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    return list(csv.DictReader(line for line in lines if not line.startswith("#")))


def missing(codes: list[str], table: dict[str, object]) -> list[str]:
    return [code for code in codes if code.upper() not in table]


def test_every_carrier_has_a_published_list() -> None:
    assert sorted(path.stem for path in MAPPINGS_DIR.glob("*.codes")) == sorted(CARRIERS)


@pytest.mark.parametrize("carrier", CARRIERS)
def test_every_published_code_is_mapped(carrier: str) -> None:
    codes = listed(MAPPINGS_DIR / f"{carrier}.codes")
    assert codes, f"{carrier}.codes lists no codes"
    assert len(codes) == len(set(codes)), f"{carrier}.codes lists a code twice"
    assert missing(codes, load_mapping(MAPPINGS_DIR / f"{carrier}.csv")) == []


def test_every_x12_reason_is_mapped_with_each_reason_status() -> None:
    reasons = [code for code in listed(MAPPINGS_DIR / "x12_214.reasons") if code != "NS"]
    composites = [f"{status}-{reason}" for status in X12_REASON_STATUSES for reason in reasons]
    assert len(reasons) > 80
    assert missing(composites, load_mapping(MAPPINGS_DIR / "x12_214.csv")) == []


@pytest.mark.parametrize("carrier", CARRIERS)
def test_mapping_rows_are_valid_unique_and_unknown_only_on_purpose(carrier: str) -> None:
    path = MAPPINGS_DIR / f"{carrier}.csv"
    notes = [line for line in path.read_text(encoding="utf-8").splitlines() if line[:1] == "#"]
    assert any("Source" in line for line in notes), f"{path.name} does not name its source"
    table = rows(path)
    codes = [row["code"].strip().upper() for row in table]
    assert len(codes) == len(set(codes)), f"{path.name} lists a code twice"
    for row in table:
        Status(row["status"]), Reason(row["reason"])  # raises on a value outside the taxonomy
        if row["status"] == Status.UNKNOWN:
            assert WHY_UNKNOWN in row["description"], f"{path.name} {row['code']}: say why unknown"


def test_the_completeness_check_can_fail() -> None:
    table = load_mapping(MAPPINGS_DIR / "usps.csv")
    assert missing(["GX", "NO-SUCH-CODE"], table) == ["NO-SUCH-CODE"]


@pytest.mark.parametrize(
    ("carrier", "code", "status"),
    [
        ("usps", "GX", Status.INFO_RECEIVED),  # label created: unknown before this table
        ("usps", "OA", Status.PICKED_UP),  # origin acceptance
        ("postnl", "01A", Status.INFO_RECEIVED),  # the API example's event codes
        ("postnl", "01B", Status.PICKED_UP),
        ("canadapost", "1414", Status.IN_TRANSIT),  # "rescheduled for delivery next business day"
        ("x12_214", "AG", Status.UNKNOWN),  # an estimate is not a scan
        ("x12_214", "SD-AS", Status.EXCEPTION),
    ],
)
def test_everyday_codes_map_as_their_carrier_describes_them(
    carrier: str, code: str, status: Status
) -> None:
    assert load_mapping(MAPPINGS_DIR / f"{carrier}.csv")[code].status == status
