"""Thin Faust agents over pure functions: dedup, normalization, parcel state, notifications."""
