def hello(name="world", times=1):
    """Called with the query's JSON keys as keyword arguments; returns anything JSON-serialisable."""
    return {"greeting": " ".join([f"hello {name}"] * int(times))}
