"""Survival on the Titanic, v5: v2's logistic model, unchanged answers, with ten stored test queries.

A healthy new version to watch a canary promote (its answers match v2's). Rows with no usable Sex are not
predicted (they come back ignored), as the predictor contract allows.
"""

import math

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


class TitanicSurvival(ClassificationPredictor):
    def predict(self, features_df):
        scores = [_score(row) for row in features_df.to_dict(orient="records")]
        prediction = pd.Series([None if p is None else ("1" if p >= 0.5 else "0") for p in scores])
        probas = pd.DataFrame({"1": [float("nan") if p is None else p for p in scores],
                               "0": [float("nan") if p is None else 1 - p for p in scores]})
        custom_keys = [{"score": None if p is None else round(p, 4)} for p in scores]
        return prediction, probas, custom_keys
