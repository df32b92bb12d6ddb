"""The one settings object: every knob is a `PARCELSTREAM_*` environment variable.

Built once (`get_settings()`) and passed down; nothing deeper reads the environment.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.api.config import ApiKey, Brand
from tracking.exceptions import ExceptionPolicy

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARCELSTREAM_", extra="ignore")

    # Kafka
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Bootstrap servers, host:port,...")
    app_id: str = Field("parcelstream", description="Faust app id = consumer group prefix.")
    topic_prefix: str = Field("parcelstream", description="Prefix of every topic name.")
    partitions: int = Field(4, ge=1, description="Partitions of the keyed topics.")
    replication_factor: int = Field(1, ge=1)
    schema_registry_url: str | None = Field(
        None, description="Confluent Schema Registry; unset = ids from schemas/registry.json."
    )

    # Batching: Faust's per-message cost is paid once per batch of raw messages.
    batch_max: int = Field(1000, ge=1, description="Most messages an agent takes at once.")
    batch_within: float = Field(0.5, gt=0, description="Seconds an agent waits to fill a batch.")
    commit_interval: float = Field(1.0, gt=0, description="Seconds between offset commits.")
    keyed_processes: int = Field(
        2,
        ge=1,
        description="Processes that run the parcel stage, each for its share of the "
        "partitions (partition p in process p mod N); the first also runs the order stage.",
    )
    session_timeout: float = Field(
        30.0,
        ge=6,
        description="Seconds before a crashed worker's partitions move to another worker.",
    )

    # ClickHouse
    state_dir: Path = Field(REPO_ROOT / ".state", description="Local data: chDB, Kafka, reports.")
    clickhouse_url: SecretStr | None = Field(
        None,
        description="clickhouse://user:password@host:9000/db for a server; unset = embedded chDB.",
    )
    chdb_path: Path | None = Field(None, description="chDB data dir; default <state_dir>/chdb.")
    clickhouse_database: str = Field("parcelstream", description="Database used with chDB.")
    sink_in_worker: bool = Field(
        True,
        description="The worker also runs the ClickHouse sink stage in a child process. Set "
        "false when several workers share one ClickHouse and run `parcelstream sink` apart.",
    )
    sink_batch_rows: int = Field(50_000, ge=1, description="Rows that make the sink insert.")
    sink_batch_seconds: float = Field(
        1.0, gt=0, description="Oldest pending row's age that makes the sink insert."
    )

    # Ingestion
    webhook_host: str = Field("127.0.0.1", description="Webhook receiver bind address.")
    webhook_port: int = Field(8080, description="Webhook receiver port.")
    webhook_secrets: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='Per-carrier HMAC-SHA256 secrets, JSON: {"fedex": "s3cret"}. A carrier '
        "with a secret must sign; one without is accepted unsigned.",
    )
    webhook_tolerance_seconds: int = Field(300, description="Signed timestamp window.")
    webhook_max_body_bytes: int = Field(
        1_000_000, description="Larger bodies get 413 (Kafka's default message limit is ~1 MB)."
    )
    poll_rate_per_second: float = Field(5.0, gt=0, description="Carrier API calls per second.")

    # Notifications
    notification_rules_file: Path = Field(
        REPO_ROOT / "pipeline" / "notification_rules.yaml",
        description="Which changes notify whom, per customer segment and service level.",
    )

    # Exceptions and timers
    stuck_default_seconds: float = Field(
        3 * 86400, gt=0, description="Silence that makes a parcel stuck before gaps are learned."
    )
    stuck_min_seconds: float = Field(12 * 3600, gt=0, description="Learned threshold floor.")
    stuck_max_seconds: float = Field(7 * 86400, gt=0, description="Learned threshold ceiling.")
    expire_after_seconds: float = Field(30 * 86400, gt=0, description="No update -> expired.")
    exception_settle_seconds: float = Field(
        600, ge=0, description="Quiet time after the last received scan before stuck/late/expired."
    )
    p_late_threshold: float = Field(
        ExceptionPolicy().p_late_threshold,
        ge=0,
        le=1,
        description="p_late at or above which a parcel is predicted late (exception, "
        "notification); `make eval-eta` prints precision and recall at the default.",
    )
    timer_interval: float = Field(5.0, gt=0, description="Seconds between deadline checks.")
    model_snapshot_seconds: float = Field(
        60.0,
        gt=0,
        description="At most this often a partition's learned models are saved (a crash loses "
        "at most this much learning; serializing a large model costs a fraction of a second).",
    )

    # Parcel state (pipeline/state/local.py)
    state_retention_days: float | None = Field(
        30.0,
        gt=0,
        description="Days a delivered, returned, cancelled or expired parcel (and an order whose "
        "parcels all are) stays in state after its last change (a parcel leaves a small marker, "
        "so late scans stay quiet); unset = forever.",
    )
    state_cache_parcels: int = Field(
        20_000, ge=100, description="Decoded parcels kept in memory per partition (hot set)."
    )

    # Lookup API and tracking pages (pipeline/api), served by every worker
    api_enabled: bool = Field(True, description="Serve the lookup API and tracking pages.")
    api_host: str = Field("127.0.0.1", description="API bind address (0.0.0.0 in a container).")
    api_port: int = Field(8090, description="API port.")
    api_url: str | None = Field(
        None,
        description="How the other workers reach this one's API (routing to a partition's "
        "owner); default http://<api_host>:<api_port>.",
    )
    api_public_url: str | None = Field(
        None, description="Base URL of tracking links shoppers open; default the api_url."
    )
    api_keys: list[ApiKey] = Field(
        default_factory=list,
        description='Merchants\' keys, JSON: [{"name": "acme", "sha256": "<hex>", '
        '"customer_refs": ["CUST-1"] or "*"}]; `parcelstream api-key NAME` makes one.',
    )
    api_link_secret: SecretStr | None = Field(
        None,
        description="HMAC secret of tracking links, the same on every worker; unset = one "
        "generated into <state_dir>/api-link-secret (a single machine only).",
    )
    api_link_days: float = Field(90.0, gt=0, description="Days a tracking link stays valid.")
    api_lookup_max_failures: int = Field(
        5, ge=1, description="Wrong order lookups per client before it must wait."
    )
    api_lookup_window_seconds: float = Field(
        900.0, gt=0, description="The window those failures are counted in."
    )
    api_brands: dict[str, Brand] = Field(
        default_factory=dict,
        description='Tracking-page brands, JSON: {"default": {...}, "<customer_ref>": '
        '{"name": ..., "logo_svg": "<svg ...>", "colour": "#rrggbb", "support": ...}}.',
    )

    # Worker
    web_port: int = Field(6066, description="Faust web views (/health, /metrics, stats).")
    web_host: str = Field(
        "127.0.0.1", description="Bind address of the worker's web views; 0.0.0.0 in a container."
    )
    sink_metrics_port: int | None = Field(
        None, description="Port of the sink process's own /metrics; unset = web_port + 1."
    )
    shutdown_seconds: float = Field(
        30.0, gt=0, description="SIGTERM to exit, at most, in any outage."
    )
    worker_log_level: Literal["debug", "info", "warning", "error"] = "info"

    @property
    def exception_policy(self) -> ExceptionPolicy:
        return ExceptionPolicy(
            stuck_default_ms=int(self.stuck_default_seconds * 1000),
            stuck_min_ms=int(self.stuck_min_seconds * 1000),
            stuck_max_ms=int(self.stuck_max_seconds * 1000),
            expire_after_ms=int(self.expire_after_seconds * 1000),
            settle_ms=int(self.exception_settle_seconds * 1000),
            p_late_threshold=self.p_late_threshold,
        )

    @property
    def state_retention_ms(self) -> int | None:
        days = self.state_retention_days
        return None if days is None else int(days * 86_400_000)

    @property
    def api_base_url(self) -> str:
        return (self.api_url or f"http://{self.api_host}:{self.api_port}").rstrip("/")

    @property
    def api_links_url(self) -> str:
        return (self.api_public_url or self.api_base_url).rstrip("/")

    @property
    def stores_dir(self) -> Path:
        return self.state_dir / "stores"

    @property
    def chdb_dir(self) -> Path:
        return self.chdb_path or self.state_dir / "chdb"

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}.{name}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
