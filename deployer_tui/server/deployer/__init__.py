"""The local API Deployer: the DSS public API (docs/protocol.md) on loopback, backed by SQLite."""
