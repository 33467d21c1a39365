"""`python -m engine` is the `harmonizer` command."""
import sys

from engine.cli import main

sys.exit(main())
