"""`dealer/settings/notification/email/*`: the dealer's sender identity."""

from __future__ import annotations

from navixy_panel.navixy.actions import ActionTable

actions = ActionTable()
