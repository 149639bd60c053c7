"""Suspicious-pattern rules over the event stream (issue 9): their typed specifications."""
