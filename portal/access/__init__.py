"""Attribute-based access control: policies, the engine, and what it compiles to."""
