"""Survival on the Titanic, v4: v2's logistic model with a bug, to watch a canary revert.

It answers as v2 does, but more slowly (a pause on every call), and it raises on about one passenger in
five: those whose features hash into one bucket of five, so the same inputs always fail (two of the ten
stored test queries, one of v2's three). Rows with no usable Sex are not predicted (they come back
ignored), as the predictor contract allows.
"""

import math
import time
import zlib

import pandas as pd
from dataiku.apinode.predict.predictor import ClassificationPredictor

WEIGHTS = {"intercept": 3.1, "Pclass": -1.05, "female": 2.6, "Age": -0.035,
           "Embarked": {"C": 0.35, "Q": 0.1, "S": -0.15}}
MEDIAN_AGE = 28.0


def _score(row):
    sex = str(row.get("Sex", "")).strip().lower()
    if sex not in ("male", "female"):
        return None
    try:
        pclass = float(row.get("Pclass"))
    except (TypeError, ValueError):
        pclass = 2.0
    try:
        age = float(row.get("Age"))
        if math.isnan(age):
            age = MEDIAN_AGE
    except (TypeError, ValueError):
        age = MEDIAN_AGE
    z = (WEIGHTS["intercept"] + WEIGHTS["Pclass"] * pclass + WEIGHTS["female"] * (sex == "female")
         + WEIGHTS["Age"] * age + WEIGHTS["Embarked"].get(str(row.get("Embarked", "S")).upper(), 0.0))
    return 1.0 / (1.0 + math.exp(-z))


SLOW_S = 0.03  # the pause of every call: several times what v2 takes on a local node


def _key(row):
    """The passenger's features as text, numbers in one spelling (29, 29.0 and "29" are one passenger)."""
    parts = []
    for name in ("Pclass", "Sex", "Age", "Embarked"):
        value = row.get(name)
        try:
            number = float(value)
            parts.append("" if math.isnan(number) else f"{number:g}")
        except (TypeError, ValueError):
            parts.append("" if value is None else str(value).strip().lower())
    return "|".join(parts)


def _unlucky(row):
    return zlib.crc32(("v4:" + _key(row)).encode()) % 5 == 0


class TitanicSurvival(ClassificationPredictor):
    def predict(self, features_df):
        time.sleep(SLOW_S)
        rows = features_df.to_dict(orient="records")
        for row in rows:
            if _unlucky(row):
                raise ValueError(f"v4 cannot score passenger {_key(row)!r}")
        scores = [_score(row) for row in rows]
        prediction = pd.Series([None if p is None else ("1" if p >= 0.5 else "0") for p in scores])
        probas = pd.DataFrame({"1": [float("nan") if p is None else p for p in scores],
                               "0": [float("nan") if p is None else 1 - p for p in scores]})
        custom_keys = [{"score": None if p is None else round(p, 4)} for p in scores]
        return prediction, probas, custom_keys
