"""Survival on the Titanic, v1: the "women and children first" rule."""

import pandas as pd
from dataiku.apinode.predict.predictor import ClassificationPredictor


class WomenAndChildrenFirst(ClassificationPredictor):
    def predict(self, features_df):
        sex = features_df["Sex"].astype(str).str.lower()
        age = pd.to_numeric(features_df.get("Age"), errors="coerce")
        survived = (sex == "female") | (age < 12)
        proba = survived.map({True: 0.75, False: 0.2})
        probas = pd.DataFrame({"1": proba, "0": 1 - proba})
        return survived.astype(int).astype(str), probas
