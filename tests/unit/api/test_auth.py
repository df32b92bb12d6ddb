"""API keys, signed links and the order lookup's failure limit (pipeline/api/auth.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pipeline.api.auth import FailureLimiter, Keys, LinkSigner, hash_key, new_key
from pipeline.api.config import ApiKey

SECRET = b"0123456789abcdef-test-secret"


def test_keys_are_matched_by_hash_and_scoped() -> None:
    shop, ops = new_key(), new_key()
    keys = Keys([
        ApiKey(name="shop", sha256=hash_key(shop), customer_refs=["CUST-1"]),
        ApiKey(name="ops", sha256=hash_key(ops), customer_refs="*"),
    ])  # fmt: skip
    scope = keys.scope(shop)
    assert scope is not None and scope.name == "shop"
    assert scope.allows("CUST-1") and not scope.allows("CUST-2")
    everything = keys.scope(ops)
    assert everything is not None and everything.allows("CUST-2")
    assert keys.scope(None) is None and keys.scope("") is None
    assert keys.scope(hash_key(shop)) is None, "the configured hash is not a key"


@given(st.sampled_from("po"), st.text(min_size=1, max_size=40))
def test_a_signed_link_opens_to_what_it_was_signed_for(kind: str, ident: str) -> None:
    signer = LinkSigner(SECRET, days=1)
    token = signer.sign(kind, ident, now=1_000_000)
    assert signer.open(token, now=1_000_000 + 3600) == (kind, ident)


@given(st.text(min_size=1, max_size=40), st.integers(0, 200), st.characters())
def test_a_changed_token_opens_to_nothing(ident: str, position: int, replacement: str) -> None:
    signer = LinkSigner(SECRET, days=1)
    token = signer.sign("p", ident, now=0)
    index = position % len(token)
    changed = token[:index] + replacement + token[index + 1 :]
    if changed != token:
        opened = signer.open(changed, now=0)
        # base64 padding bits can absorb a change in the last character of a part
        assert opened is None or opened == ("p", ident)


def test_links_expire_and_other_secrets_do_not_open_them() -> None:
    signer = LinkSigner(SECRET, days=1)
    token = signer.sign("p", "1Z999", now=0)
    assert signer.open(token, now=86_399) == ("p", "1Z999")
    assert signer.open(token, now=86_401) is None
    assert LinkSigner(b"another-secret-of-16b", days=1).open(token, now=0) is None
    assert signer.open("garbage", now=0) is None and signer.open("a.b", now=0) is None


def test_failures_past_the_limit_make_the_client_wait_until_the_window_moves() -> None:
    limiter = FailureLimiter(limit=3, window_seconds=60)
    for t in (0, 10, 20):
        assert limiter.retry_after("1.2.3.4", now=t) == 0
        limiter.failed("1.2.3.4", now=t)
    assert limiter.retry_after("1.2.3.4", now=30) == 30  # the first failure leaves at 60
    assert limiter.retry_after("5.6.7.8", now=30) == 0, "per client"
    assert limiter.retry_after("1.2.3.4", now=60) == 0


def test_the_limiter_bounds_its_memory() -> None:
    limiter = FailureLimiter(limit=1, window_seconds=60, clients=10)
    for client in range(100):
        limiter.failed(str(client), now=0)
    assert len(limiter._failures) <= 10
