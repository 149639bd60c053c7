"""The event-sourcing core: schema, hashing, stores, projections."""
