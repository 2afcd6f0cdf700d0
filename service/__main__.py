"""``python -m service`` is the same as ``pelvic-outcomes``."""

from service.cli import main

raise SystemExit(main())
