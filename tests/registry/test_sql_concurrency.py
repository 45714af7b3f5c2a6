"""Many processes registering versions of one model at once get distinct numbers 1..N."""

from __future__ import annotations

import pytest
from registry_sql_support import register_one

from registry_backends import run_together
from shipyard.registry.sql import RegistryStore

WRITERS = 20


@pytest.mark.slow
def test_concurrent_registration_assigns_each_number_once(db_url: str) -> None:
    results = run_together(register_one, [(db_url, "shared")] * WRITERS)

    errors = [detail for _, status, detail in results if status != "ok"]
    assert errors == []
    numbers = [number for _, _, number in results]
    assert sorted(numbers) == list(range(1, WRITERS + 1))
    with RegistryStore(db_url) as store:
        versions = store.list_versions("shared")
        assert [v.version for v in versions] == list(range(1, WRITERS + 1))
        assert sorted(int(v.tags["worker"]) for v in versions) == list(range(WRITERS))
        assert store.get_model("shared").latest_version == WRITERS
