"""Pure code: values and maths with no I/O, no clock and no framework.

Modules here import only the standard library and pydantic; an import-linter contract
checks it.
"""
