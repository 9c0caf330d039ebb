"""How things look: row building, formatting, text helpers. Pure functions over the raw JSON."""
