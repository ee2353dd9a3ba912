"""``python -m sandbox``: run the Flex sandbox emulator."""

from .server import main

__all__: list[str] = []

raise SystemExit(main())
