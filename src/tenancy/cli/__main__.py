"""``python -m tenancy.cli``: the ``tenancy`` command without the installed script."""

from tenancy.cli.main import main

raise SystemExit(main())
