"""Which carrier issued a tracking number, when a payload or a registration does not say.

`detect(number)` returns ranked `Candidate`s (best first, `[]` when no format fits). A number is
often ambiguous, so every format it fits is listed: a 12-digit number is FedEx Express if its
check digit holds and may still be something else; a `3S` barcode is PostNL or DHL Parcel. Input is
normalized first (spaces and dashes dropped, upper-cased). Candidate `carrier` is the format name
in `connectors.REGISTRY` where we have one, else `upu_s10` for a postal item whose post we have
no connector for; `country` is the S10 issuing country; `tracking_number` is the number to track,
which a long barcode embeds (FedEx 34 and 22 digits, USPS routed IMpb), else the input.

What is validated, per format, and where the rule comes from:

- **UPU S10** (`AA123456785GB`): 2 letters, 8 serial digits, a check digit, an ISO country.
  Check digit: weights 8,6,4,2,3,5,9,7 over the serial, C = 11 - (sum mod 11), 10 -> 0, 11 -> 5
  (UPU standard S10, as summarised in Wikipedia's "S10 (UPU standard)"). The country names the
  issuing post: US -> usps, CA -> canadapost, NL -> postnl, DE -> dhl (Deutsche Post's items
  are tracked through DHL's unified API, service `post-de`); every S10 also yields `upu_s10`.
- **UPS 1Z** (18 chars): check digit over the 15 characters after `1Z`, letters converted by
  UPS's chart (A=2 ... H=9, I=0, J=1 ... cyclic, i.e. (ord - 63) mod 10), odd positions plus twice
  the even positions, check = distance to the next multiple of 10 (UPS's "modified MOD 10" as
  quoted from UPS in Google Answers thread 207899).
- **FedEx Express** (12 digits): weights 1,3,7 repeated from the 11th digit leftwards, sum mod 11,
  10 -> 0 (FedEx Web API department, quoted in the same thread).
- **FedEx Ground** (15 digits, and the 22-digit "96" barcode whose last 15 digits are the
  tracking number): mod 10, from the right the even positions x3 plus the odd positions (FedEx
  Ground "Bar Code & Label Layout Specification" FY04.A, "Check Digit Calculation Algorithms").
- **FedEx 34-digit barcodes** (the Ground "96" barcode in its 34-digit GSN form, `96` + SCNC +
  service + GSN + ..., and the Express 1D barcode starting `10`): the last 12 digits are the
  12-digit tracking number, validated with the Express rule above (layout as summarised in
  the public tracking_number_data definitions, jkeen/tracking_number_data couriers/fedex.json;
  FedEx's own label guides are not public). The candidate's `tracking_number` is those 12.
- **USPS IMpb** (22 digits starting with 9, optionally behind the routing code 420 + ZIP5 or
  420 + ZIP9, i.e. 30 or 34 digits): the package identification code's mod 10 check digit, the
  same GS1 rule (USPS Publication 199, IMpb Implementation Guide). 20-digit numbers (older
  USPS and FedEx SmartPost labels) are listed for both, without a check: which application
  identifier was dropped from them is not on the label.
- **DHL Express** (10 digits): check digit = the first nine digits, as a number, mod 7 (paketda.de
  "Prüfziffer DHL Express 10-stellig"); `JJD...` and `JVGL...` ids are listed unvalidated
  (dhl.com "DHL shipment tracking labels": Express `JJD00`/`JJD01`/`JVGL`, Parcel `3S`/`JVGL`/
  `JJD`).
- **DHL Paket 20 digits** (`00` + an 18-digit SSCC, e.g. on every DHL Paket label): mod 10 with
  weights 3,1,3,... from the left over the first 19 digits, check = distance to the next
  multiple of 10 (paketda.de "Prüfziffern für DHL 20-stellig"; the GS1 SSCC rule, which the
  leading zeros do not change). Other 20-digit numbers stay USPS/FedEx SmartPost, unchecked.
- **DHL eCommerce** (`GM`, `LX` or `RX` + digits, 10 to 39 characters in all; dhl.com "DHL
  shipment tracking labels"): by shape only. An `LX`/`RX` number of S10 shape is an S10.
- **Canada Post** (16-digit PIN): no public check digit rule; listed by shape only. Canada Post's
  13-character international items are S10 (country CA) and validated as such.
- **PostNL 3S** (`3S` + 4-character customer code + digits): no check digit; listed by shape. DHL
  documents `3S` ids for DHL Parcel too, so both are returned, PostNL first.

Confidence is a rank, not a probability: a validated check digit scores high, a failed one low
(the number is listed, with `check_digit_valid=False`, because a typo is still worth showing).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, replace

__all__ = ["Candidate", "detect", "detect_main", "normalize"]


@dataclass(frozen=True, slots=True)
class Candidate:
    carrier: str  # REGISTRY format name, or "upu_s10"
    format: str  # which numbering scheme matched: s10, 1z, express12, ground15, ...
    confidence: float  # rank within one answer, 0..1
    check_digit_valid: bool | None  # None: the format defines no check digit
    country: str = ""  # S10 issuing country
    tracking_number: str = ""  # what to track: embedded in a long barcode, else the input


# S10 issuing country -> the post's connector, where we have one.
S10_POSTS = {"US": "usps", "CA": "canadapost", "NL": "postnl", "DE": "dhl"}
_S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)
_S10 = re.compile(r"[A-Z]{2}[0-9]{9}[A-Z]{2}")
_UPS = re.compile(r"1Z[A-Z0-9]{15}[0-9]")
_DIGITS = re.compile(r"[0-9]+")
_THREE_S = re.compile(r"3S[A-Z][A-Z0-9]{3}[0-9]{5,11}")
_DHL_IDS = re.compile(r"(?:JJD|JVGL)[0-9]{8,20}")
_DHL_ECOMMERCE = re.compile(r"(?:GM|LX|RX)[0-9]{8,37}")
_SEPARATORS = re.compile(r"[\s\-]+")


def normalize(number: str) -> str:
    return _SEPARATORS.sub("", number).upper()


def s10_check_digit(serial: str) -> int:
    check = 11 - sum(int(d) * w for d, w in zip(serial, _S10_WEIGHTS, strict=True)) % 11
    return {10: 0, 11: 5}.get(check, check)


def ups_check_digit(body: str) -> int:
    values = [int(c) if c.isdigit() else (ord(c) - 63) % 10 for c in body]
    total = sum(values[0::2]) + 2 * sum(values[1::2])
    return -total % 10


def fedex_express_check_digit(body: str) -> int:
    weights = (1, 3, 7)
    total = sum(int(d) * weights[i % 3] for i, d in enumerate(reversed(body)))
    return total % 11 % 10


def gs1_check_digit(body: str) -> int:
    """Mod 10, weights 3,1,3,... from the digit next to the check digit leftwards."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return -total % 10


def dhl_express_check_digit(body: str) -> int:
    return int(body) % 7


def _valid(number: str, check: int) -> bool:
    return int(number[-1]) == check


def _scored(
    carrier: str, fmt: str, valid: bool | None, high: float, country: str = "", embedded: str = ""
) -> Candidate:
    # A failed check digit keeps the candidate (a typo is worth showing) at a low rank.
    confidence = high if valid is not False else round(high * 0.3, 3)
    return Candidate(carrier, fmt, confidence, valid, country, embedded)


def _digit_candidates(n: str) -> list[Candidate]:
    size = len(n)
    found: list[Candidate] = []
    if size == 10:
        found.append(_scored("dhl", "express10", _valid(n, dhl_express_check_digit(n[:9])), 0.8))
    elif size == 12:
        valid = _valid(n, fedex_express_check_digit(n[:11]))
        found.append(_scored("fedex", "express12", valid, 0.8))
    elif size == 15:
        found.append(_scored("fedex", "ground15", _valid(n, gs1_check_digit(n[:14])), 0.75))
    elif size == 16:
        found.append(_scored("canadapost", "pin16", None, 0.5))
    elif size == 20:
        if n.startswith("00"):
            found.append(_scored("dhl", "sscc20", _valid(n, gs1_check_digit(n[:19])), 0.85))
        found += [_scored("usps", "impb20", None, 0.4), _scored("fedex", "smartpost20", None, 0.35)]
    elif size == 22 and n.startswith("96"):
        valid = _valid(n, gs1_check_digit(n[7:21]))
        found.append(_scored("fedex", "ground96", valid, 0.85, embedded=n[7:]))
    elif size == 34 and n.startswith(("96", "10")):
        tracked = n[-12:]
        valid = _valid(tracked, fedex_express_check_digit(tracked[:11]))
        found.append(_scored("fedex", "barcode34", valid, 0.85, embedded=tracked))
    elif size == 22 and n.startswith("9"):
        found.append(_scored("usps", "impb22", _valid(n, gs1_check_digit(n[:21])), 0.85))
    elif size in (30, 34) and n.startswith("420") and n[-22] == "9":
        pic = n[-22:]  # behind 420 + ZIP5 (30 digits) or 420 + ZIP9 (34 digits)
        valid = _valid(pic, gs1_check_digit(pic[:21]))
        found.append(_scored("usps", "impb_routed", valid, 0.9, embedded=pic))
    return found


def detect(tracking_number: str) -> list[Candidate]:
    """Ranked candidates for a tracking number, best first; [] when no known format fits."""
    n = normalize(tracking_number)
    found: list[Candidate] = []
    if _S10.fullmatch(n):
        valid = _valid(n[:11], s10_check_digit(n[2:10]))
        country = n[11:]
        post = S10_POSTS.get(country)
        if post:
            found.append(_scored(post, "s10", valid, 0.95, country))
        found.append(_scored("upu_s10", "s10", valid, 0.9, country))
    elif _UPS.fullmatch(n):
        found.append(_scored("ups", "1z", _valid(n, ups_check_digit(n[2:17])), 0.99))
    elif _DIGITS.fullmatch(n):
        found = _digit_candidates(n)
    elif _THREE_S.fullmatch(n):
        found = [_scored("postnl", "3s", None, 0.6), _scored("dhl", "3s", None, 0.45)]
    elif _DHL_IDS.fullmatch(n):
        found = [_scored("dhl", "jjd", None, 0.6)]
    elif _DHL_ECOMMERCE.fullmatch(n):
        found = [_scored("dhl", "ecommerce", None, 0.5)]
    ranked = sorted(found, key=lambda candidate: -candidate.confidence)
    return [c if c.tracking_number else replace(c, tracking_number=n) for c in ranked]


def _describe(candidate: Candidate, number: str) -> str:
    check = {True: "check ok", False: "check FAILED", None: "no check digit"}
    where = f" {candidate.country}" if candidate.country else ""
    valid = check[candidate.check_digit_valid]
    shown = f"{candidate.carrier} ({candidate.format}{where}, {valid}, {candidate.confidence:.2f})"
    return (
        shown if candidate.tracking_number == number else f"{shown} -> {candidate.tracking_number}"
    )


def detect_main(argv: list[str]) -> int:
    """`parcelstream detect TRACKING...`: one line per number, candidates best first. Exit 0
    when every number matched a format, 1 when one did not, 2 without arguments."""
    if not argv:
        print("usage: parcelstream detect TRACKING_NUMBER...", file=sys.stderr)
        return 2
    status = 0
    for number in argv:
        candidates = detect(number)
        status |= not candidates
        normalized = normalize(number)
        shown = "; ".join(_describe(c, normalized) for c in candidates) or "unknown format"
        print(f"{normalized}\t{shown}")
    return status


if __name__ == "__main__":
    raise SystemExit(detect_main(sys.argv[1:]))
