"""The Webitel face: `/login`, `/logout` and `/api/v2/email/settings` over the same store."""
