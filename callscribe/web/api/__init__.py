"""The HTTP APIs of the case desk, a router per area."""
