"""Ticket fare estimate (in 1912 pounds) by class and number of passengers, with a group discount."""

BASE = {1: 84.0, 2: 20.7, 3: 13.7}


def fare(pclass, passengers=1):
    pclass = int(pclass)
    passengers = int(passengers)
    if pclass not in BASE:
        raise ValueError(f"pclass must be 1, 2 or 3, not {pclass}")
    discount = 0.1 if passengers >= 4 else 0.0
    return {"fare": round(BASE[pclass] * passengers * (1 - discount), 2), "currency": "GBP",
            "discount": discount}
