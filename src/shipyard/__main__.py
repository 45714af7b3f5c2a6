"""``python -m shipyard``: the same command line as the ``shipyard`` script."""

from __future__ import annotations

from shipyard.cli.main import main

if __name__ == "__main__":
    main()
