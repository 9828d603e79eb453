"""Navixy's dealer block statuses and which of them shut the dealer out.

The status is the operator's decision (`navixy-panel dealer update --block-status`);
login, session resolution and the hot list path all refuse the same ones.
"""

from __future__ import annotations

NOT_BLOCKED = "NOT_BLOCKED"
BLOCK_STATUSES = (NOT_BLOCKED, "INITIAL_BLOCK", "BLOCK_LOGIN", "CLIENTS_BLOCKED")
# Statuses that shut the dealer out of the panel (CLIENTS_BLOCKED only blocks its customers).
LOGIN_BLOCKING_STATUSES = ("INITIAL_BLOCK", "BLOCK_LOGIN")
