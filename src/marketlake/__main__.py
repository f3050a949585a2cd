"""`python -m marketlake ...`: the `marketlake` command (errors as one line, exit status 2)."""

from marketlake.cli.main import main

main()
