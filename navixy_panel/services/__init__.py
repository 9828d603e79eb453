"""Domain services: take an AsyncSession, never commit (the caller owns the unit of work)."""
