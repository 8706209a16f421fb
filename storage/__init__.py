"""The event store's persistence: recorders that write the audit ledger in the same
transaction, and the orjson transcoder. SQL helpers shared with the keystore are in
:mod:`sqlstore`, below both."""
