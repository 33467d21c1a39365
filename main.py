"""Start the editor from a checkout: `python main.py [files] [--screenshot OUT.png]` (same as `harmonizer gui`)."""
import sys

from harmonizer_gui.app import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
