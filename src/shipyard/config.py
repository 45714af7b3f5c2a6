"""One settings object, read once in bootstrap and passed down.

Precedence, highest first: ``SHIPYARD_*`` environment variables, ``shipyard.toml`` (the
file named by ``SHIPYARD_CONFIG``, else ``./shipyard.toml``, else ``$SHIPYARD_HOME/shipyard.toml``),
then the defaults below. In the toml file the keys are the field names, at top level or
under ``[shipyard]``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from shipyard.errors import ConfigError

ENV_PREFIX = "SHIPYARD_"


class ModelSettings(BaseModel):
    """Per-model overrides of the serving settings, from a ``[models.NAME]`` table in
    shipyard.toml; a setting left out falls back to the top-level one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    batching: bool | None = None
    max_batch_rows: int | None = Field(default=None, ge=1)
    max_batch_wait_ms: float | None = Field(default=None, ge=0, le=1000)
    max_queue: int | None = Field(default=None, ge=1)
    slo_p99_ms: float | None = Field(default=None, gt=0, le=60_000)
    # The Ray engine (``shipyard serve --engine ray``, ``shipyard/ray/options.py``): this
    # model's Ray Serve deployment. Left out: one replica of one CPU, no autoscaling.
    min_replicas: int | None = Field(default=None, ge=0, le=1000)
    max_replicas: int | None = Field(default=None, ge=1, le=1000)
    target_ongoing_requests: float | None = Field(default=None, gt=0, le=10_000)
    """Requests in flight per replica that Ray Serve's autoscaler aims for."""
    num_cpus: float | None = Field(default=None, ge=0, le=1024)
    """CPUs each replica reserves on the cluster (fractions allowed)."""


class Settings(BaseModel):
    """Everything Shipyard can be told, with safe defaults."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    home: Path = Field(default_factory=lambda: Path("~/.shipyard").expanduser())
    registry_url: str | None = None
    """SQLAlchemy URL; default ``sqlite:///$home/registry.db``."""
    artifacts_url: str | None = None
    """``file:///path`` or ``s3://bucket/prefix``; default ``file://$home/artifacts``."""
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_archive_storage_class: str | None = Field(default=None, pattern=r"^[A-Z_]{1,32}$")
    """Storage class of archived artifacts (``STANDARD_IA``, ``GLACIER_IR``, ...); None: the bucket's default."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    grpc_port: int = Field(default=8081, ge=0, le=65535)
    """Port of the OIP V2 gRPC service (``inference.GRPCInferenceService``); 0 turns it off."""
    workers: int | None = Field(default=None, ge=1, le=64)
    """Server processes sharing the port; default: one per CPU core."""
    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    max_upload_bytes: int = Field(default=2 * 1024**3, ge=1024)
    max_rows: int = Field(default=10_000, ge=1)
    request_timeout_seconds: float = Field(default=30.0, gt=0)
    graceful_timeout_seconds: float = Field(default=10.0, ge=0)
    drain_seconds: float = Field(default=0.0, ge=0)
    """After SIGTERM: how long /ready answers 503 before the listener closes."""
    alias_poll_seconds: float = Field(default=0.5, gt=0)
    """How often a server re-reads its aliases, deployments and version lifecycles."""
    rollout_tick_seconds: float = Field(default=1.0, gt=0, le=60)
    """How often a server analyses the canaries of its deployments (and writes telemetry)."""
    shadow_threads: int = Field(default=1, ge=1, le=64)
    """Threads computing shadow and mirrored copies (never the inference threads)."""
    shadow_queue: int = Field(default=256, ge=1, le=100_000)
    """Copies waiting for a shadow thread; past it copies are dropped and counted."""
    inference_threads: int = Field(default=4, ge=1, le=256)
    batching: bool = True
    """Gather concurrent requests to one row-independent model version into one predict call."""
    max_batch_rows: int = Field(default=256, ge=1)
    max_batch_wait_ms: float = Field(default=5.0, ge=0, le=1000)
    """Upper bound on the adaptive wait for more requests; an idle model never waits."""
    max_queue: int = Field(default=512, ge=1)
    """Requests waiting per model version before new ones get 503 with Retry-After."""
    slo_p99_ms: float | None = Field(default=None, gt=0, le=60_000)
    """A p99 latency target: the batcher tunes its wait and batch size online to keep each
    model's p99 under it while maximising throughput; None: the fixed adaptive policy."""
    models: dict[str, ModelSettings] = Field(default_factory=dict)
    """Per-model overrides (``[models.NAME]`` in shipyard.toml)."""
    log_level: str = "INFO"
    access_log: bool = True
    runtime: str = Field(default="auto", pattern="^(auto|native|compiled)$")
    """Which form of a version serves: ``auto`` (its verified compiled form when it has one),
    ``native`` or ``compiled`` (refuses versions without a verified compiled form)."""

    # -- access (docs/security.md) ---------------------------------------------------------
    open_inference: str = ""
    """Model-name patterns (``*`` or ``iris,fraud-*``) whose inference, readiness and metadata
    routes anonymous callers may use; default none. Health is always open."""
    open_metrics: bool = False
    """Let anonymous callers read ``/metrics``."""
    insecure_open: bool = False
    """Allow listening on a non-loopback address while some route is anonymous."""
    allowed_hosts: str = ""
    """Host header values answered (comma-separated); default the bound address, ``localhost``,
    ``127.0.0.1`` and ``[::1]``. ``*`` answers any (behind a proxy that checks)."""
    cors_origins: str = ""
    """Origins allowed cross-origin reads (comma-separated); default none (CORS off)."""
    http_trust_uploads: bool = False
    """Allow uploads over HTTP that need trust (pickle, joblib, Python code, extra skops types);
    even then only keys with the admin role may ask for it."""
    key_cache_seconds: float = Field(default=2.0, ge=0, le=60)
    """How long a server trusts what it read of a key (revocation takes effect within this)."""
    audit_hmac_key: SecretStr | None = None
    """Optional secret: each audit entry also carries an HMAC of its hash under this key."""
    signing: str = Field(default="warn", pattern="^(strict|warn)$")
    """``strict`` refuses to load unsigned or mismatched artifacts; ``warn`` logs and audits."""
    signing_public_keys: str = ""
    """Extra ed25519 public keys (PEM file paths, comma-separated) trusted besides this home's own."""
    rate_limits: str = ""
    """Quotas, comma-separated ``WHO=N/PERIOD`` where WHO is a role, ``key:ID`` or ``anonymous``
    and PERIOD is ``s``, ``m`` or ``h`` (``predictor=100/s,key:ab12=10/m``); default none."""
    redis_url: str | None = None
    """Redis for state shared by workers (rate limits); in-process when unset."""

    # -- connections -------------------------------------------------------------------------
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    """A connection must send a request's headers within this; else 408 and close."""
    body_timeout_seconds: float = Field(default=30.0, gt=0)
    """A request's body must arrive within this after its headers; else 408 and close."""
    max_connections: int = Field(default=1024, ge=1)
    """Open connections per worker; new ones beyond are answered 503 and closed."""
    max_requests_per_connection: int = Field(default=10_000, ge=1)
    """Requests served on one keep-alive connection before it is closed."""
    offload_body_bytes: int = Field(default=64 * 1024, ge=0)
    """Bodies larger than this are decoded on a thread, not on the event loop."""

    # -- prediction log and monitoring (docs/monitoring.md) ------------------------------------
    log_mode: str = Field(default="batch", pattern="^(batch|sync|off)$")
    """The prediction log: ``batch`` (group commit, fsync every ``log_flush_ms``), ``sync`` (a
    response is sent only once its record is on disk) or ``off``."""
    log_flush_ms: float = Field(default=20.0, gt=0, le=10_000)
    """Group commit: the longest a record waits before its segment is written and fsynced."""
    log_memory_bytes: int = Field(default=64 * 1024**2, ge=64 * 1024)
    """Records waiting to be written, at most this many bytes in memory; past it they spill or drop."""
    log_overflow: str = Field(default="spill", pattern="^(spill|drop)$")
    """What happens to records past ``log_memory_bytes`` when the disk is slow: ``spill`` to
    spill files (then drop past ``log_spill_bytes``) or ``drop``; drops are counted."""
    log_spill_bytes: int = Field(default=1024**3, ge=0)
    log_segment_bytes: int = Field(default=64 * 1024**2, ge=64 * 1024)
    """A segment file is sealed (and can be compacted) at this size."""
    log_sample: str = ""
    """Sampling per model or deployment, ``NAME=RATE`` comma-separated (``fraud=0.1,*=1``);
    default every inference is logged."""
    log_compact_seconds: float = Field(default=60.0, gt=0)
    """How often sealed segments are compacted into Parquet (one worker at a time)."""
    monitor_interval_seconds: float = Field(default=60.0, gt=0)
    """How often a server computes its monitored figures (drift, quality, performance) and
    evaluates the alert rules."""
    price_per_core_hour: float = Field(default=0.0, ge=0)
    """For cost figures: the price of one CPU core for an hour, in your currency."""
    alert_rules_file: Path | None = None
    """YAML file of alert rules (docs/monitoring.md); default ``$home/alerts.yaml`` if present."""
    pii_hash_key: SecretStr | None = None
    """Key of the HMAC that pseudonymises fields marked ``pii: hash`` (and erasure subjects);
    default: ``$home/pii.key``, made on first use (0600). Changing it breaks the link between
    old and new hashes of the same value."""
    retention_interval_seconds: float = Field(default=3600.0, gt=0)
    """How often a server purges prediction logs and feedback past each target's ``retention_days``."""
    review_poll_seconds: float = Field(default=5.0, gt=0)
    """How often a server expires undecided review tickets past their deadline and delivers
    review decisions to webhooks."""
    webhook_allow_private: bool = False
    """Allow alert and retraining webhooks to loopback, link-local and private addresses."""
    otlp_endpoint: str | None = None
    """OTLP/HTTP endpoint for traces (``http://collector:4318/v1/traces``); default no export."""
    trace_sample_rate: float = Field(default=1.0, ge=0, le=1)

    @property
    def resolved_registry_url(self) -> str:
        return self.registry_url or f"sqlite:///{self.home / 'registry.db'}"

    @property
    def resolved_artifacts_url(self) -> str:
        return self.artifacts_url or (self.home / "artifacts").resolve().as_uri()

    @property
    def resolved_workers(self) -> int:
        return self.workers or max(1, min(os.cpu_count() or 1, 64))

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @classmethod
    def load(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        overrides: Mapping[str, Any] | None = None,
    ) -> Settings:
        """Read settings from the environment and shipyard.toml; ``overrides`` win over both."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        toml_path = _find_toml(env)
        if toml_path is not None:
            values.update(_read_toml(toml_path))
        for name in cls.model_fields:
            key = ENV_PREFIX + name.upper()
            if key in env and env[key] != "":
                values[name] = env[key]
        if overrides:
            values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            settings = cls(**values)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(
                f"invalid setting {where!r}: {first['msg']}",
                hint=f"check {ENV_PREFIX}{where.upper()} or shipyard.toml",
            ) from exc
        return settings.model_copy(update={"home": settings.home.expanduser()})


def _find_toml(env: Mapping[str, str]) -> Path | None:
    explicit = env.get(ENV_PREFIX + "CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"{ENV_PREFIX}CONFIG names {path}, which is not a file")
        return path
    candidates = [Path.cwd() / "shipyard.toml"]
    home = env.get(ENV_PREFIX + "HOME")
    candidates.append(
        Path(home).expanduser() / "shipyard.toml" if home else Path("~/.shipyard/shipyard.toml").expanduser()
    )
    return next((p for p in candidates if p.is_file()), None)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    section = data.get("shipyard", data)
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [shipyard] must be a table")
    values: dict[str, Any] = {k.replace("-", "_"): v for k, v in section.items() if not isinstance(v, dict)}
    # Per-model tables: ``[models.NAME]`` beside ``[shipyard]`` or ``[shipyard.models.NAME]``
    # inside it. Other nested tables stay ignored, as before.
    models: dict[str, Any] = {}
    for source in (data.get("models"), section.get("models") if section is not data else None):
        if source is None:
            continue
        if not isinstance(source, dict) or not all(isinstance(v, dict) for v in source.values()):
            raise ConfigError(f"{path}: [models] must hold one table per model, e.g. [models.iris]")
        for name, table in source.items():
            models.setdefault(name, {}).update({k.replace("-", "_"): v for k, v in table.items()})
    if models:
        values["models"] = models
    return values
