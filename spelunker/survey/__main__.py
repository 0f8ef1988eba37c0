"""``python -m spelunker.survey``: the ``spelunker-survey`` command."""

import sys

from spelunker.survey.cli import main

if __name__ == "__main__":
    sys.exit(main())
