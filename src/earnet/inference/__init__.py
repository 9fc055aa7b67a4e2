"""Inference: tiling (pure functions) and the predictor that turns images into probabilities."""
