"""The pure decision: nothing here does I/O, reads the clock or the environment itself."""
