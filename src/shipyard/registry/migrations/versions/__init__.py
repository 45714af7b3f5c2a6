"""Registry schema revisions, one module per Alembic revision, applied in order."""
