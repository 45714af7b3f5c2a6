"""Signed artifacts: the home's key, signatures written with the version, checked on every load."""

from __future__ import annotations

import logging
import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from governance_support import raw_sql
from sklearn.linear_model import LogisticRegression

from homes import open_home
from shipyard.bootstrap import Services
from shipyard.errors import IntegrityError
from shipyard.governance.signing import KEY_FILE, Signer
from shipyard.registry.sql.tables import artifact_signatures, model_versions


@pytest.fixture(scope="module")
def model() -> tuple[LogisticRegression, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    return LogisticRegression().fit(x, (x[:, 0] > 0).astype(int)), x[:5]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def services(home: Path) -> Iterator[Services]:
    opened = open_home(home)
    yield opened
    opened.close()


def url_of(home: Path) -> str:
    return f"sqlite:///{home / 'registry.db'}"


def register(services: Services, model: tuple[LogisticRegression, np.ndarray], *, compile: bool = False) -> None:
    services.registry.register("iris", model[0], sample=model[1], compile=compile)


def test_the_signing_key_is_private_and_stable(tmp_path: Path) -> None:
    signer = Signer.load_or_create(tmp_path)
    path = tmp_path / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert Signer.load_or_create(tmp_path).key_id == signer.key_id
    assert len(signer.key_id) == 16
    assert signer.public_pem().startswith("-----BEGIN PUBLIC KEY-----")


def test_racing_creators_share_one_key(tmp_path: Path) -> None:
    with ThreadPoolExecutor(16) as pool:
        ids = set(pool.map(lambda _: Signer.load_or_create(tmp_path).key_id, range(32)))
    assert len(ids) == 1


def test_registration_signs_the_model_and_its_compiled_form(services: Services, model) -> None:  # type: ignore[no-untyped-def]
    register(services, model, compile=True)
    version = services.registry.resolve("iris")
    assert version.compiled is not None
    statuses = services.registry.signature_statuses(version)
    assert [(s.kind, s.status, s.key_id) for s in statuses] == [
        ("model", "signed", services.signer.key_id),
        ("compiled", "signed", services.signer.key_id),
    ]
    services.registry.load_version(version, runtime="compiled")
    services.registry.load_version(version, runtime="native")


def test_compiling_later_signs_the_compiled_form(services: Services, model) -> None:  # type: ignore[no-untyped-def]
    register(services, model, compile=False)
    services.registry.compile_version("iris/1")
    statuses = services.registry.signature_statuses(services.registry.resolve("iris/1"))
    assert [(s.kind, s.status) for s in statuses] == [("model", "signed"), ("compiled", "signed")]


TAMPERS = {
    "version-row": lambda conn: conn.execute(sa.update(model_versions).values(created_by="mallory")),
    "trust-flag": lambda conn: conn.execute(sa.update(model_versions).values(trusted_types_json='["os.system"]')),
    "signature-row": lambda conn: conn.execute(sa.update(artifact_signatures).values(signature="A" * 86 + "==")),
    "signed-digest": lambda conn: conn.execute(sa.update(artifact_signatures).values(sha256="f" * 64)),
    "unsigned": lambda conn: conn.execute(sa.delete(artifact_signatures)),
}


@pytest.mark.parametrize("tamper", list(TAMPERS), ids=list(TAMPERS))
def test_strict_refuses_a_tampered_version(home: Path, model, tamper: str) -> None:  # type: ignore[no-untyped-def]
    with _opened(home) as services:
        register(services, model)
    with raw_sql(url_of(home)) as conn:
        TAMPERS[tamper](conn)
    with _opened(home, signing="strict") as services:
        version = services.registry.resolve("iris/1")
        with pytest.raises(IntegrityError) as info:
            services.registry.load_version(version)
        assert "refusing to load iris/1" in str(info.value)
        assert info.value.hint


@pytest.mark.parametrize("tamper", ["version-row", "unsigned"], ids=str)
def test_warn_loads_but_logs_and_audits(home: Path, model, tamper: str, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    with _opened(home) as services:
        register(services, model)
    with raw_sql(url_of(home)) as conn:
        TAMPERS[tamper](conn)
    with _opened(home, signing="warn") as services, caplog.at_level(logging.WARNING):
        loaded = services.registry.load_version(services.registry.resolve("iris/1"))
        assert loaded is not None
        entries = services.store.audit.list()
    assert any("loading iris/1" in r.getMessage() for r in caplog.records)
    mismatch = [e for e in entries if e.action == "signature.mismatch"]
    assert len(mismatch) == 1 and mismatch[0].resource == "iris/1" and mismatch[0].outcome == "failed"
    assert mismatch[0].details["status"] == ("unsigned" if tamper == "unsigned" else "mismatch")


def test_a_forged_signature_under_the_attackers_own_key_is_refused(home: Path, tmp_path: Path, model) -> None:  # type: ignore[no-untyped-def]
    from shipyard.registry.provenance import payload

    with _opened(home) as services:
        register(services, model)
    with raw_sql(url_of(home)) as conn:
        conn.execute(sa.update(model_versions).values(created_by="mallory"))
    (tmp_path / "attacker").mkdir()
    attacker = Signer.load_or_create(tmp_path / "attacker")
    with _opened(home, signing="strict") as services:
        version = services.registry.resolve("iris/1")
        forged = attacker.sign(payload(version, "model"))
        with raw_sql(url_of(home)) as conn:
            conn.execute(
                sa.update(artifact_signatures).values(
                    key_id=forged.key_id, public_key=forged.public_key, signature=forged.signature
                )
            )
        with pytest.raises(IntegrityError, match="not trusted"):
            services.registry.load_version(version)


def test_keys_listed_in_settings_are_trusted(tmp_path: Path, model) -> None:  # type: ignore[no-untyped-def]
    builder, server = tmp_path / "builder", tmp_path / "server"
    shared = {"registry_url": url_of(builder), "artifacts_url": (builder / "artifacts").as_uri()}
    with _opened(builder) as services:
        register(services, model)
        pem = tmp_path / "builder.pem"
        pem.write_text(services.signer.public_pem())
    with _opened(server, signing="strict", **shared) as services, pytest.raises(IntegrityError, match="not trusted"):
        services.registry.load_version(services.registry.resolve("iris/1"))
    with _opened(server, signing="strict", signing_public_keys=str(pem), **shared) as services:
        services.registry.load_version(services.registry.resolve("iris/1"))


class _opened:
    """``open_home`` as a context manager."""

    def __init__(self, home: Path, **overrides: object) -> None:
        self.services = open_home(home, **overrides)

    def __enter__(self) -> Services:
        return self.services

    def __exit__(self, *exc: object) -> None:
        self.services.close()
