"""The domain: what a gateway, a dealer and a refusal are, in no face's words."""
