"""Credentials: dealer password hashes, session hashes, SMTP password encryption."""
