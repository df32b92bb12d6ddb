"""A parcel's history entries, and the near-duplicate rule that pairs two feeds' reports of one
scan into one entry. tracking/state.py folds the history into the parcel's state.

Near-duplicate rule: the event id (connectors.base.scan_event_id) already makes a re-sent or
re-polled scan one event, but the same physical scan reported by two feeds (a webhook and an
API poll, a carrier and an aggregator with its own codes) can still carry two ids: another code,
another minute. Two reports are one scan when they have the same canonical status and reason,
come from different sources and lie at most NEAR_DUPLICATE_WINDOW_MS apart. A scan keeps one
report per source (a feed reports a scan once; two of its reports are two scans) and all its
reports lie within the window. Reports are paired closest first, ties broken by (time, event
id), and a merged scan shows its best-located report (most of city and country filled, then
the earliest, then the smallest event id) with the gaps filled from the others. All of that is
computed from the set of reports, so the rule keeps the state independent of arrival order.
`unknown` reports are never merged: two unmapped codes may be two different things.

Only the first-arriving report of a scan is accepted as a new event; the others count as
duplicates. Those counts alone can depend on arrival order, when a late report re-pairs
earlier ones: feed A scans a and c minutes apart, feed B's echo b lies between them; if b and
c arrive first they pair, and when a (closer to b) arrives, b re-pairs with it and c, counted
as b's echo before, is left a scan of its own. The stored state (tracking/state_codec.py)
holds the merged entries with the source of the report each shows, but not the raw reports
behind a merged scan, so a restored state judges a replayed echo against the shown report
alone: it merges again (their sources differ), as a new scan of that same feed within the
window would. (The Avro ParcelState record, of changelogs before the compact encoding, has no
sources either: its entries read as of unknown source, "", unlike every feed.)
"""

from __future__ import annotations

from dataclasses import dataclass

from tracking.taxonomy import Status

__all__ = ["NEAR_DUPLICATE_WINDOW_MS", "HistoryEntry", "may_echo", "regroup"]

_UNKNOWN = Status.UNKNOWN.value

# Two feeds' reports of one scan disagree by seconds to a few minutes: one truncates to the
# minute, one stamps when the scan reached the carrier's system rather than when it was made,
# one poll's copy went through an aggregator. Two real scans of one parcel with the same status
# and reason are a facility, a leg or a delivery round apart, which takes longer than that.
# A judgment, not a measurement: widen it only with traffic showing larger disagreements.
NEAR_DUPLICATE_WINDOW_MS = 10 * 60 * 1000


@dataclass(slots=True, eq=False)
class HistoryEntry:
    occurred_at_ms: int
    progress: int
    event_id: str
    status: str
    reason: str
    carrier_code: str
    city: str
    country: str
    # The feed of the report (stored), and for a merged scan the raw reports it stands for,
    # itself included (in memory only), so that a later report can re-pair them. `==` leaves
    # both out, so a report that changes nothing the parcel shows leaves the version alone.
    source: str = ""
    reports: tuple[HistoryEntry, ...] = ()

    # Written out rather than `field(compare=False)`, which compiled (mypyc) dataclasses ignore.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HistoryEntry):
            return NotImplemented
        return self.shown() == other.shown()

    __hash__ = None  # type: ignore[assignment]  # mutable, like any eq dataclass

    def shown(self) -> tuple[int, int, str, str, str, str, str, str]:
        """What the parcel shows of the entry: every field but the source and raw reports."""
        return (
            self.occurred_at_ms,
            self.progress,
            self.event_id,
            self.status,
            self.reason,
            self.carrier_code,
            self.city,
            self.country,
        )

    def sort_key(self) -> tuple[int, int, str]:
        return (self.occurred_at_ms, self.progress, self.event_id)

    def __lt__(self, other: HistoryEntry) -> bool:
        return self.sort_key() < other.sort_key()

    def raw_reports(self) -> tuple[HistoryEntry, ...]:
        return self.reports or (self,)

    def rank(self) -> tuple[int, int, str]:
        """The best report of a merged scan has the smallest rank."""
        return (-(bool(self.city) + bool(self.country)), self.occurred_at_ms, self.event_id)


def may_echo(history: list[HistoryEntry], report: HistoryEntry) -> bool:
    """Whether the (sorted) history holds a report of another source that may be the same
    scan."""
    if report.status == _UNKNOWN:
        return False
    window, at = NEAR_DUPLICATE_WINDOW_MS, report.occurred_at_ms
    # A merged entry's reports lie within the window of the one it shows. Scans mostly
    # arrive in time order, so walking back from the end usually stops at once.
    low, high = at - 2 * window, at + 2 * window
    for entry in reversed(history):
        t = entry.occurred_at_ms
        if t < low:
            break
        if (
            t <= high
            and entry.status == report.status
            and entry.reason == report.reason
            and any(
                r.source != report.source and abs(r.occurred_at_ms - at) <= window
                for r in entry.raw_reports()
            )
        ):
            return True
    return False


def regroup(
    history: list[HistoryEntry],
    echoes: dict[tuple[str, str], list[HistoryEntry]],
    accepted: set[str],
) -> tuple[list[HistoryEntry], bool]:
    """Re-pair the scans of each (status, reason) in `echoes` with its new reports; returns the
    new sorted history and whether it changed. `accepted` holds the ids of this batch's reports
    taken as new so far and is updated in place; a scan that no earlier batch reported counts
    once, by the report it shows."""
    old: dict[tuple[str, str], list[HistoryEntry]] = {key: [] for key in echoes}
    regrouped: list[HistoryEntry] = []
    for entry in history:
        group = old.get((entry.status, entry.reason))
        (regrouped if group is None else group).append(entry)
    changed = False
    for key, reports in echoes.items():
        known = [r for entry in old[key] for r in entry.raw_reports()]
        known_before = {r.event_id for r in known} - accepted
        scans = []
        for members in _same_scans(known + reports):
            scan = _merged(members)
            scans.append(scan)
            member_ids = {r.event_id for r in members}
            accepted -= member_ids
            if known_before.isdisjoint(member_ids):
                accepted.add(scan.event_id)
        scans.sort()
        changed = changed or scans != old[key]
        regrouped.extend(scans)
    regrouped.sort()
    return regrouped, changed


def _same_scans(reports: list[HistoryEntry]) -> list[list[HistoryEntry]]:
    """Reports of one (status, reason) grouped into scans by the near-duplicate rule: pairs of
    reports from different sources within the window join, closest first, as long as the scan
    keeps one report per source and fits in the window. A function of the set of reports."""
    window = NEAR_DUPLICATE_WINDOW_MS
    reports = sorted(reports)
    pairs = []
    for i, earlier in enumerate(reports):
        for j in range(i + 1, len(reports)):
            later = reports[j]
            gap = later.occurred_at_ms - earlier.occurred_at_ms
            if gap > window:
                break
            if earlier.source != later.source:
                pairs.append((gap, i, j))
    scan_of = list(range(len(reports)))
    members = {i: [i] for i in scan_of}
    for _, i, j in sorted(pairs):
        a, b = scan_of[i], scan_of[j]
        if a == b:
            continue
        joined = members[a] + members[b]
        sources = {reports[k].source for k in joined}
        times = [reports[k].occurred_at_ms for k in joined]
        if len(sources) < len(joined) or max(times) - min(times) > window:
            continue
        for k in members.pop(b):
            scan_of[k] = a
        members[a] = joined
    return [[reports[k] for k in sorted(scan)] for scan in members.values()]


def _merged(reports: list[HistoryEntry]) -> HistoryEntry:
    """One history entry for one scan: its best-located report, gaps filled from the others
    (best first)."""
    if len(reports) == 1:
        return reports[0]
    ranked = sorted(reports, key=HistoryEntry.rank)
    best = ranked[0]
    return HistoryEntry(
        best.occurred_at_ms,
        best.progress,
        best.event_id,
        best.status,
        best.reason,
        best.carrier_code,
        next((r.city for r in ranked if r.city), ""),
        next((r.country for r in ranked if r.country), ""),
        best.source,
        tuple(reports),
    )
