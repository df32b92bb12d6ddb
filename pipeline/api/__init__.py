"""The lookup API and the shopper's tracking pages, answered from live state.

auth.py     API keys (hashed), signed tracking links, the order lookup's failure limit
reader.py   the worker's state stores, read from its web process (RocksDB secondaries)
views.py    the JSON contract (pydantic) and its OpenAPI document
page.py     the tracking page: templates/, locales/, brands
server.py   the aiohttp application, routing between workers
"""
