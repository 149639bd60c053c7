"""Access tests use the shared fixtures of tests/conftest.py (people, tokens, events)."""
