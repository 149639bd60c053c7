"""Privacy within an immutable log: legal holds (and, with them, erasure by crypto-shredding)."""
