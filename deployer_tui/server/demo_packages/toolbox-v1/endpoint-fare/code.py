"""Ticket fare estimate (in 1912 pounds) by class and number of passengers."""

BASE = {1: 84.0, 2: 20.7, 3: 13.7}


def fare(pclass, passengers=1):
    pclass = int(pclass)
    if pclass not in BASE:
        raise ValueError(f"pclass must be 1, 2 or 3, not {pclass}")
    return {"fare": round(BASE[pclass] * int(passengers), 2), "currency": "GBP"}
