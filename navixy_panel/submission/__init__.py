"""The SMTP submission face: an aiosmtpd listener through which any mail library hands
the platform's messages to the queue, authenticated by a dealer's login and one of
its submission keys (`AUTH PLAIN`/`LOGIN`), after STARTTLS or on an implicit TLS
port (loopback clients may authenticate in clear).

`handler.py` speaks the protocol (its replies are in one table there), `headers.py`
reads what the message says about itself, `tls.py` keeps the operator's certificate
current, `runtime.py` runs the listener as a resource of the service, `metrics.py`
counts sessions and messages, `log_masking.py` keeps credentials out of aiosmtpd's
own log lines.
"""
