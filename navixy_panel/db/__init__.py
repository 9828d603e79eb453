"""Database access: models, engine lifecycle, migrations, the embedded server."""
