"""Application services: version-neutral use cases over the store and the bus."""
