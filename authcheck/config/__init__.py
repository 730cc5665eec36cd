"""The config file: its typed model, reading and validation, schema, and lint."""
