"""Outbound mail: building a test message and talking SMTP to a gateway."""
