"""What the tests share: servers, peers, clients and helpers; no tests here."""
