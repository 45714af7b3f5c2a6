"""What start-up made is out of the cycle collector's way once the server answers."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

from shipyard.bootstrap import open_services
from shipyard.config import Settings
from shipyard.http.app import create_app


def test_startup_objects_are_frozen_before_the_first_request(home: Path) -> None:
    services = open_services(Settings.load(overrides={"home": home, "grpc_port": 0}))
    app = create_app(services, [])

    async def started() -> int:
        async with app.router.lifespan_context(app):
            return gc.get_freeze_count()

    gc.unfreeze()
    try:
        assert asyncio.run(started()) > 0
    finally:
        gc.unfreeze()  # the test process's own objects go back to the collector
        services.close()
