from __future__ import annotations

from memlens.cli import main

raise SystemExit(main())
