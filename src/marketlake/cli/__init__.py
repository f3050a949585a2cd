"""The `marketlake` command line: thin commands over the library, rendered with Rich."""
