"""Storage: one schema on SQLite and PostgreSQL, migrations, and the repositories."""
