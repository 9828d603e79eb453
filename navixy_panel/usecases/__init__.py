"""The application layer: one module per capability, each use case one unit of work.

Both faces and the command line call these; none of them opens a database
session. Use cases take a `Context` and raise `domain.errors`.
"""
