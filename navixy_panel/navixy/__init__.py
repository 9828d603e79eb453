"""The Navixy Admin Panel API face."""
