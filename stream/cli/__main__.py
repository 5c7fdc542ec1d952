"""`python -m stream.cli`: the same as the `pulse` script."""

from stream.cli import main

main()
