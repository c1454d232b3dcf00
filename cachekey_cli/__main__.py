"""Allow ``python -m cachekey_cli``."""

from __future__ import annotations

from cachekey_cli.cli.group import main

if __name__ == "__main__":
    main()
