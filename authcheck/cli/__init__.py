"""The `authcheck` command line."""
