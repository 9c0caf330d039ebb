"""Session state: the data store, the update tracker and the messages they post. Imports no screen and no widget."""
