"""`dataiku.apinode.predict`: the base classes of custom Python prediction endpoints."""
