"""Keys, sealing, the keystore and signatures. Knows nothing about contacts."""
