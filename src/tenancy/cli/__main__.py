"""``python -m tenancy.cli``: the ``tenancy`` command without the installed script."""

from tenancy.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
