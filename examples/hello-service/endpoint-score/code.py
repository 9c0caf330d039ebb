import pandas as pd
from dataiku.apinode.predict.predictor import ClassificationPredictor


class AmountRule(ClassificationPredictor):
    """A stand-in model: large amounts paid by card are suspicious. Real code would load a model here."""

    def __init__(self, data_folder=None):
        super().__init__(data_folder)

    def predict(self, features_df):
        missing = pd.Series([None] * len(features_df), index=features_df.index)
        amount = pd.to_numeric(features_df.get("amount", missing), errors="coerce")
        by_card = features_df.get("payment_type", missing) == "card"
        proba = (amount.clip(lower=0, upper=1000) / 1000 * (0.5 + 0.5 * by_card)).fillna(0.5)
        predictions = pd.Series(["suspicious" if p >= 0.5 else "ok" for p in proba])
        predictions[amount.isna()] = None  # no amount: the row comes back ignored
        probas = pd.DataFrame({"suspicious": proba, "ok": 1 - proba})
        return predictions, probas
