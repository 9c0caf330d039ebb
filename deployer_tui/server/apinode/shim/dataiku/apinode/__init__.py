"""`dataiku.apinode` as seen by endpoint code on a local API node."""
