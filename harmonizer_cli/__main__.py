"""`python -m harmonizer_cli` is the `harmonizer` command."""
import sys

from harmonizer_cli import main

sys.exit(main())
