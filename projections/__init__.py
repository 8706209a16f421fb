"""Read models, each maintained by a tracked projection of the event store's notification log."""
