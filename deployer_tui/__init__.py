"""deployer-tui: a terminal console for the Dataiku DSS API Deployer, and a local deployer that speaks its protocol."""

__version__ = "0.1.0"
