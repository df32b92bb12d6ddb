from __future__ import annotations

import pytest

from connectors.places import city_name, country_code, postal_code


@pytest.mark.parametrize(
    ("raw", "tidy"),
    [("ST. JOHN'S", "St. John's"), ("SAINT-LAURENT", "Saint-Laurent"), (" new  york", "New York"),
     ("MÜNCHEN", "München"), ("McAllen", "McAllen"), ("", "")],
)  # fmt: skip
def test_city_name(raw: str, tidy: str) -> None:
    assert city_name(raw) == tidy


def test_country_and_postal_code() -> None:
    assert [country_code(c) for c in ("usa", "United States", "DE", "Deutschland", None)] == [
        "US", "US", "DE", "DE", "",
    ]  # fmt: skip
    assert postal_code("k1a0b1", "CA") == "K1A 0B1"
    assert postal_code(" 10115 ", "DE") == "10115"
