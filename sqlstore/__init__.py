"""SQL plumbing below every package that owns tables: the keystore (``crypto/``), the
ledger (``storage/``), the read models and the API edge's stores. It imports none of them,
so each can depend on it without depending on another."""
