"""`python -m lk_io ...` is the `lk` command."""

from lk_io._cli import main

raise SystemExit(main())
