"""navixy-panel: email gateways for the dealers of a telematics platform."""
