"""The lookup API and the tracking pages, as one aiohttp application served by every worker
(`PARCELSTREAM_API_PORT`; pipeline/app.py starts it beside Faust's own web views).

Routes:
    GET  /v1/parcels/{tracking_number}   a parcel (API key)
    GET  /v1/orders/{order_id}           an order with all its parcels (API key)
    GET  /v1/orders?customer_ref=...     the orders of a customer reference (API key)
    GET  /v1/openapi.json                the OpenAPI document (docs/openapi.json)
    GET  /t/{token}, /o/{token}          a shopper's parcel / order page (signed link)
    GET  /track, POST /track             the order lookup form (order id + postal code)

Several workers: each owns some partitions, and its stores hold only those. Whichever worker a
request reaches answers it: a parcel or order of a partition another worker owns is fetched
from that worker (`/internal/...`, the state's bytes, authenticated by an HMAC of the path
with the shared link secret), found through Faust's assignment, which every member learns at
each rebalance (Kafka Streams' interactive queries do the same). Access checks, rate limits
and rendering happen where the request arrived.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import aiohttp
import msgspec
from aiohttp import web

from pipeline import topics
from pipeline.api import page
from pipeline.api.auth import FailureLimiter, Keys, LinkSigner, Scope
from pipeline.api.reader import LiveState
from pipeline.api.views import Problem, openapi, order_doc, parcel_doc
from pipeline.settings import Settings
from tracking import state_codec
from tracking.orders import OrderState
from tracking.state import ParcelState

log = logging.getLogger(__name__)

# Where a partition's state lives: the base URL of the worker that owns it, or None when it is
# this worker (or nobody is known to own it yet: then this worker answers from what it has).
Owners = Callable[[str, int], str | None]
# Every other worker's base URL.
Members = Callable[[], list[str]]

_INTERNAL = "X-Parcelstream-Internal"


class Assignment:
    """Who owns which partition, from Faust's assignment: every member's API URL with its
    partitions (`external_topic_distribution`), re-indexed only when a rebalance replaces it."""

    def __init__(
        self, distribution: Callable[[], Mapping[str, Mapping[str, Sequence[int]]]], own: str
    ) -> None:
        self._distribution = distribution
        self._own = own
        self._read: object = None
        self._owners: dict[tuple[str, int], str] = {}

    def _index(self) -> dict[tuple[str, int], str]:
        distribution = self._distribution()
        if distribution is not self._read:
            self._read = distribution
            self._owners = {
                (topic, partition): url.rstrip("/")
                for url, tps in distribution.items()
                for topic, partitions in tps.items()
                for partition in partitions
            }
        return self._owners

    def owner(self, topic: str, partition: int) -> str | None:
        """The owner's base URL; None when it is this worker or nobody is known yet."""
        url = self._index().get((topic, partition))
        return None if url is None or url == self._own else url

    def others(self) -> list[str]:
        return sorted(set(self._index().values()) - {self._own})


def _problem(status: int, error: str, detail: str = "") -> web.Response:
    return web.Response(
        status=status,
        text=Problem(error=error, detail=detail).model_dump_json(),
        content_type="application/json",
    )


def _json(doc: dict[str, Any]) -> web.Response:
    return web.Response(body=msgspec.json.encode(doc), content_type="application/json")


def normalized_postal(text: str) -> str:
    return "".join(ch for ch in text.upper() if ch.isalnum())


class LookupApi:
    def __init__(
        self,
        settings: Settings,
        live: LiveState,
        link_secret: bytes,
        owners: Owners | None = None,
        members: Members | None = None,
    ) -> None:
        self.settings = settings
        self.live = live
        self.keys = Keys(settings.api_keys)
        self.links = LinkSigner(link_secret, settings.api_link_days)
        self._secret = link_secret
        self.limiter = FailureLimiter(
            settings.api_lookup_max_failures, settings.api_lookup_window_seconds
        )
        self._owners = owners or (lambda topic, partition: None)
        self._members = members or list
        self._parcel_topic = topics.EVENTS.topic(settings)
        self._order_topic = topics.ORDER_UPDATES.topic(settings)
        self._reads = ThreadPoolExecutor(1, thread_name_prefix="lookup")  # RocksDB off the loop
        self._session: aiohttp.ClientSession | None = None

    # -- the application ---------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[_security_headers, _owner_unreachable])
        app.add_routes([
            web.get("/v1/parcels/{tracking_number}", self.get_parcel),
            web.get("/v1/orders/{order_id}", self.get_order),
            web.get("/v1/orders", self.search_orders),
            web.get("/v1/openapi.json", self.get_openapi),
            web.get("/t/{token}", self.parcel_page),
            web.get("/o/{token}", self.order_page),
            web.get("/track", self.lookup_form),
            web.post("/track", self.lookup),
            web.get("/internal/v1/parcels/{key}", self.internal_parcel),
            web.get("/internal/v1/orders/{key}", self.internal_order),
            web.get("/internal/v1/orders", self.internal_search),
        ])  # fmt: skip
        app.on_cleanup.append(self._close)
        return app

    async def _close(self, app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()
        self._reads.shutdown(wait=True)
        self.live.close()

    def tracking_link(self, tracking_number: str) -> str:
        return f"{self.settings.api_links_url}/t/{self.links.sign('p', tracking_number)}"

    def order_link(self, order_id: str) -> str:
        return f"{self.settings.api_links_url}/o/{self.links.sign('o', order_id)}"

    # -- reading state, here or at its owner -------------------------------------------------

    async def _read(self, function: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._reads, function, *args)

    def _mac(self, path: str) -> str:
        return hmac.new(self._secret, path.encode(), hashlib.sha256).hexdigest()

    async def _remote(self, base: str, path: str) -> bytes | None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        async with self._session.get(base + path, headers={_INTERNAL: self._mac(path)}) as resp:
            if resp.status == 404:
                return None
            resp.raise_for_status()
            return await resp.read()

    async def parcel(self, tracking_number: str) -> ParcelState | None:
        owner = self._owners(self._parcel_topic, self.live.partition_of(tracking_number))
        if owner is None:
            return await self._read(self.live.parcel, tracking_number)  # type: ignore[no-any-return]
        raw = await self._remote(owner, f"/internal/v1/parcels/{_quote(tracking_number)}")
        return None if raw is None else state_codec.decode(raw)

    async def order(self, order_id: str) -> OrderState | None:
        owner = self._owners(self._order_topic, self.live.partition_of(order_id))
        if owner is None:
            return await self._read(self.live.order, order_id)  # type: ignore[no-any-return]
        raw = await self._remote(owner, f"/internal/v1/orders/{_quote(order_id)}")
        return None if raw is None else self.live.decode_order(raw)

    def _own_order_partitions(self) -> list[int]:
        """The order partitions this worker answers for: its copy of another worker's (left
        from before a rebalance) may be stale."""
        owner = self._owners
        return [p for p in range(self.settings.partitions) if owner(self._order_topic, p) is None]

    async def orders_of(self, customer_ref: str) -> list[OrderState]:
        mine = self._own_order_partitions()
        found: list[OrderState] = await self._read(self.live.orders_of, customer_ref, mine)
        path = f"/internal/v1/orders?customer_ref={_quote(customer_ref)}"
        for base in self._members():
            raw = await self._remote(base, path)
            found += [
                self.live.decode_order(item) for item in msgspec.msgpack.decode(raw or b"\x90")
            ]
        newest: dict[str, OrderState] = {}  # mid-rebalance, two members may both answer
        for order in found:
            known = newest.get(order.order_id)
            if known is None or order.version > known.version:
                newest[order.order_id] = order
        return sorted(newest.values(), key=lambda o: o.order_id)

    def _internal(self, request: web.Request) -> bool:
        given = request.headers.get(_INTERNAL, "")
        return hmac.compare_digest(given, self._mac(request.raw_path))

    async def internal_parcel(self, request: web.Request) -> web.Response:
        return await self._internal_get(request, self.live.parcels_topic)

    async def internal_order(self, request: web.Request) -> web.Response:
        return await self._internal_get(request, self.live.orders_topic)

    async def _internal_get(self, request: web.Request, topic: str) -> web.Response:
        if not self._internal(request):
            return _problem(401, "unauthorized")
        raw = await self._read(self.live.raw, topic, request.match_info["key"])
        if raw is None:
            return _problem(404, "not_found")
        return web.Response(body=raw, content_type="application/octet-stream")

    async def internal_search(self, request: web.Request) -> web.Response:
        if not self._internal(request):
            return _problem(401, "unauthorized")
        orders = await self._read(
            self.live.orders_of, request.query.get("customer_ref", ""), self._own_order_partitions()
        )
        encode = self.live.encode_order
        body = msgspec.msgpack.encode([encode(order) for order in orders])
        return web.Response(body=body, content_type="application/octet-stream")

    # -- the merchant API --------------------------------------------------------------------

    def _scope(self, request: web.Request) -> Scope | None:
        header = request.headers.get("Authorization", "")
        key = header[7:].strip() if header[:7].lower() == "bearer " else None
        return self.keys.scope(key or request.headers.get("X-Api-Key"))

    async def get_parcel(self, request: web.Request) -> web.Response:
        scope = self._scope(request)
        if scope is None:
            return _problem(401, "unauthorized", "a valid API key is required")
        tracking_number = request.match_info["tracking_number"]
        state = await self.parcel(tracking_number)
        if state is None or not scope.allows(state.customer_ref):
            return _problem(404, "not_found", "no such parcel")
        if state.evicted_at_ms is not None:  # a marker: nothing to say whose it was
            if scope.refs is not None:
                return _problem(404, "not_found", "no such parcel")
            return _problem(410, "retention_ended",
                            "the parcel left live state after the retention; ClickHouse keeps "
                            "its history")  # fmt: skip
        return _json(parcel_doc(state, self.tracking_link(tracking_number)))

    async def get_order(self, request: web.Request) -> web.Response:
        scope = self._scope(request)
        if scope is None:
            return _problem(401, "unauthorized", "a valid API key is required")
        order = await self.order(request.match_info["order_id"])
        if order is None or not scope.allows(order.customer_ref):
            return _problem(404, "not_found", "no such order")
        return _json(order_doc(order, self.order_link(order.order_id)))

    async def search_orders(self, request: web.Request) -> web.Response:
        scope = self._scope(request)
        if scope is None:
            return _problem(401, "unauthorized", "a valid API key is required")
        customer_ref = request.query.get("customer_ref", "")
        if not customer_ref:
            return _problem(400, "bad_request", "customer_ref is required")
        if not scope.allows(customer_ref):
            return _problem(404, "not_found", "no such customer reference")
        orders = await self.orders_of(customer_ref)
        docs = [order_doc(order, self.order_link(order.order_id)) for order in orders]
        return _json({"customer_ref": customer_ref, "orders": docs})

    async def get_openapi(self, request: web.Request) -> web.Response:
        return web.json_response(openapi())

    # -- the shopper's pages -----------------------------------------------------------------

    def _brand(self, customer_ref: str) -> page.Brand:
        brands = self.settings.api_brands
        return brands.get(customer_ref) or brands.get("default") or page.Brand()

    @staticmethod
    def _html(text: str, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
        return web.Response(text=text, status=status, content_type="text/html", headers=headers)

    async def parcel_page(self, request: web.Request) -> web.Response:
        lang = page.language(request.headers.get("Accept-Language"))
        opened = self.links.open(request.match_info["token"])
        if opened is None or opened[0] != "p":
            return self._html(page.render_message(self._brand(""), lang, "link_invalid"), 404)
        state = await self.parcel(opened[1])
        if state is None:
            return self._html(page.render_message(self._brand(""), lang, "not_found"), 404)
        brand = self._brand(state.customer_ref)
        if state.evicted_at_ms is not None:
            return self._html(page.render_message(brand, lang, "retained"), 410)
        return self._html(page.render_parcel(state, brand, lang, int(time.time() * 1000)))

    async def order_page(self, request: web.Request) -> web.Response:
        lang = page.language(request.headers.get("Accept-Language"))
        opened = self.links.open(request.match_info["token"])
        order = None if opened is None or opened[0] != "o" else await self.order(opened[1])
        if order is None:
            return self._html(page.render_message(self._brand(""), lang, "link_invalid"), 404)
        links = [(tn, self.tracking_link(tn)) for tn in order.parcels]
        return self._html(page.render_order(order, links, self._brand(order.customer_ref), lang))

    async def lookup_form(self, request: web.Request) -> web.Response:
        lang = page.language(request.headers.get("Accept-Language"))
        return self._html(page.render_lookup(self._brand(""), lang))

    async def lookup(self, request: web.Request) -> web.Response:
        """Order id + destination postal code -> the order page. Wrong answers count against
        the client; past the limit even right ones are refused until the window moves on."""
        lang = page.language(request.headers.get("Accept-Language"))
        text, brand = page.messages(lang), self._brand("")
        client = request.remote or "?"
        wait = self.limiter.retry_after(client)
        if wait > 0:
            minutes = max(1, round(wait / 60))
            error = str(text["lookup_limited"]).format(minutes=minutes)
            return self._html(page.render_lookup(brand, lang, error), 429,
                              {"Retry-After": str(int(wait) + 1)})  # fmt: skip
        form = await request.post()
        order_id = str(form.get("order_id", "")).strip()[:100]
        postal = normalized_postal(str(form.get("postal_code", ""))[:20])
        order = await self.order(order_id) if order_id and postal else None
        if order is None or not await self._postal_matches(order, postal):
            self.limiter.failed(client)
            return self._html(page.render_lookup(brand, lang, str(text["lookup_wrong"])), 404)
        raise web.HTTPSeeOther(f"/o/{self.links.sign('o', order.order_id)}")

    async def _postal_matches(self, order: OrderState, postal: str) -> bool:
        for tracking_number in order.parcels:
            state = await self.parcel(tracking_number)
            if state is not None and state.destination_postal:
                given = normalized_postal(state.destination_postal)
                if hmac.compare_digest(given, postal):
                    return True
        return False


@web.middleware
async def _security_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault(
        "Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        "form-action 'self'; frame-ancestors 'none'"
    )  # fmt: skip
    return response


@web.middleware
async def _owner_unreachable(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """The worker owning a partition did not answer (it is restarting, or a rebalance is
    moving the partition): 503, which a client may retry, rather than a 500."""
    try:
        return await handler(request)
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("lookup %s: the owning worker did not answer: %s", request.path, exc)
        return _problem(503, "owner_unavailable", "try again in a few seconds")


def link_secret(settings: Settings) -> bytes:
    """The configured link secret, or this machine's own, made once (mode 600)."""
    if settings.api_link_secret is not None:
        return settings.api_link_secret.get_secret_value().encode()
    path = settings.state_dir / "api-link-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it just now
            pass
        else:
            with os.fdopen(descriptor, "w") as out:
                out.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def _quote(text: str) -> str:
    return quote(text, safe="")


def openapi_json() -> str:
    return json.dumps(openapi(), indent=2, sort_keys=True) + "\n"
