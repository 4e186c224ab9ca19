"""``python -m concur`` is ``concur``."""

from concur.cli import main

raise SystemExit(main())
