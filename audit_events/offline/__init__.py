"""Verification that runs without Django: the standard library plus `cryptography`."""
