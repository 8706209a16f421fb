"""Persistence plumbing shared by the keystore, the event store and the read models."""
