"""Base classes of DSS custom Python prediction endpoints (`CUSTOM_PREDICTION`).

Endpoint code defines one subclass of either class and implements `predict(features_df)`:

* `RegressionPredictor.predict` returns `prediction_series` or `(prediction_series, custom_keys_list)`;
* `ClassificationPredictor.predict` returns `prediction_series`, `(prediction_series, probas_df)` or
  `(prediction_series, probas_df, custom_keys_list)`.

The constructor receives the path of the endpoint's bundled managed folder, or None.
"""


class _Predictor:
    def __init__(self, data_folder=None):
        self.data_folder = data_folder

    def predict(self, features_df):
        raise NotImplementedError("A custom predictor must implement predict(features_df)")


class ClassificationPredictor(_Predictor):
    """Subclass this for a classification model: predict returns classes, optionally probabilities."""


class RegressionPredictor(_Predictor):
    """Subclass this for a regression model: predict returns numbers."""
