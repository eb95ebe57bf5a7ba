"""Storage: SQLAlchemy models, Alembic migrations, the unit of work and the repositories."""
