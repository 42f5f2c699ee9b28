"""A tiny CLI: greets, and reports the versions of what it runs on."""
