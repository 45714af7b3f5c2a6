"""PII minimisation as pure logic (``governance/pii.py``) and the key (``fs/pii_key.py``)."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import numpy as np
import pytest

from shipyard.config import Settings
from shipyard.fs.pii_key import KEY_FILE, existing_pii_key, load_or_create, settings_pii_key
from shipyard.governance.pii import (
    canonical,
    digest,
    is_pseudonym,
    minimise_columns,
    minimise_scalars,
    pseudonymise,
    subject_digests,
    subject_forms,
)

KEY = b"k" * 64


def test_values_of_different_types_hash_differently_and_stably() -> None:
    assert pseudonymise(42, KEY) != pseudonymise("42", KEY)
    assert pseudonymise(42, KEY) != pseudonymise(42.0, KEY)
    assert pseudonymise(True, KEY) != pseudonymise(1, KEY)
    assert pseudonymise(b"x", KEY) != pseudonymise("x", KEY)
    assert pseudonymise(np.int64(42), KEY) == pseudonymise(42, KEY)
    assert pseudonymise(np.float32(0.5), KEY) == pseudonymise(0.5, KEY)
    assert pseudonymise("ann", KEY) == pseudonymise("ann", KEY)
    assert pseudonymise("ann", KEY) != pseudonymise("ann", b"other-key" * 8)
    assert canonical(float("nan")) == b"f:nan"


def test_a_pseudonym_is_prefixed_hex_and_minimising_twice_changes_nothing() -> None:
    once = pseudonymise("ann@example.com", KEY)
    assert is_pseudonym(once) and once.startswith("hmac:") and len(once) == 69
    assert pseudonymise(once, KEY) == once
    assert once == "hmac:" + digest("ann@example.com", KEY)
    assert pseudonymise(None, KEY) is None


def test_columns_marked_drop_are_absent_and_hash_are_pseudonyms() -> None:
    columns = {"email": ["a@x", None], "name": np.array(["Ann", "Bob"], dtype=object), "x": [1.0, 2.0]}
    out = minimise_columns(columns, {"email": "hash", "name": "drop", "x": "keep"}, KEY)
    assert set(out) == {"email", "x"}
    assert out["email"] == [pseudonymise("a@x", KEY), None]
    assert out["x"] == [1.0, 2.0]
    assert minimise_columns(columns, {}, KEY) == columns


def test_a_hash_mark_without_a_key_drops_the_column() -> None:
    assert minimise_columns({"email": ["a@x"]}, {"email": "hash"}, None) == {}
    assert minimise_scalars({"email": "a@x", "group": "g"}, {"email": "hash"}, None) == {"group": "g"}


def test_scalars_of_feedback_attributes_are_minimised() -> None:
    out = minimise_scalars({"email": "a@x", "name": "Ann", "group": "g"}, {"email": "hash", "name": "drop"}, KEY)
    assert out == {"email": pseudonymise("a@x", KEY), "group": "g"}


def test_an_erasure_by_text_matches_the_number_it_reads_as() -> None:
    forms = subject_forms("42")
    assert "42" in forms and 42 in forms and 42.0 in forms
    assert digest(42, KEY) in subject_digests(forms, KEY)
    assert subject_forms("ann") == ["ann"]
    assert True in subject_forms("true")


def test_the_key_file_is_made_once_0600_and_shared(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE
    keys: list[bytes] = []
    threads = [threading.Thread(target=lambda: keys.append(load_or_create(path))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(keys)) == 1 and len(keys[0]) == 64
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [KEY_FILE]  # no temporary file left behind
    assert existing_pii_key(tmp_path) == keys[0]


def test_a_configured_key_wins_and_no_file_is_made(tmp_path: Path) -> None:
    settings = Settings.load(env={"SHIPYARD_HOME": str(tmp_path), "SHIPYARD_PII_HASH_KEY": "configured-secret"})
    assert settings_pii_key(settings) == b"configured-secret"
    assert not (tmp_path / KEY_FILE).exists()
    assert existing_pii_key(tmp_path) is None


def test_a_truncated_key_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE).write_text("short")
    from shipyard.errors import StorageError

    with pytest.raises(StorageError, match="too short"):
        load_or_create(tmp_path / KEY_FILE)
