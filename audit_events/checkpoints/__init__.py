"""Verifiability beyond the chains: each tenant's events in a Merkle log (RFC 6962), signed
checkpoints of it, and the proofs that tie one event or one checkpoint to another."""
