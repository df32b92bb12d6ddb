"""The API's configuration records (read by pipeline/settings.py, so kept free of the API's
own dependencies)."""

from __future__ import annotations

from pydantic import BaseModel, Field

ALL = "*"


class ApiKey(BaseModel):
    """One configured key (PARCELSTREAM_API_KEYS is a JSON list of these)."""

    name: str = Field(description="Who holds it, for logs.")
    sha256: str = Field(
        pattern="^[0-9a-f]{64}$", description="SHA-256 of the key, hex (never the key)."
    )
    customer_refs: list[str] | str = Field(
        ALL, description='The customer references it may read, or "*" for all.'
    )


class Brand(BaseModel):
    """A merchant's look (PARCELSTREAM_API_BRANDS: JSON, customer_ref or "default" -> Brand)."""

    name: str = "parcelstream"
    logo_svg: str = Field("", description="Inline <svg> markup (no external asset is loaded)")
    colour: str = Field("#1d4ed8", pattern="^#[0-9a-fA-F]{6}$", description="Header and accents")
    support: str = Field("", description="A line on how to reach the merchant's support")
