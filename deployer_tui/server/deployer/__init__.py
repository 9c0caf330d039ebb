"""The local API Deployer: the DSS public API (protocol.md §2, §3) on loopback, backed by SQLite."""
