"""The HTTP submission face: `POST /mail/v1/messages`, `GET /mail/v1/messages/{id}`,
authenticated by a dealer's submission key (`Authorization: Bearer …`)."""
