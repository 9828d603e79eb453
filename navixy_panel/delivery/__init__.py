"""Delivery: the workers that take messages from the queue and send them through the
dealers' gateways (a driver, like a face, but pulled by the queue)."""
