"""``python -m mockserver``: start the fixture server (see ``mockserver.cli``)."""

from mockserver.cli import main

raise SystemExit(main())
