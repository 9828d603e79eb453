"""HTTP plumbing both faces share: the edge middleware, parameters, JSON answers,
CORS, request ids, metrics and probes. Nothing here knows either face's wire format."""
