"""The service layer: configuration, wiring, and the application's commands and queries."""
