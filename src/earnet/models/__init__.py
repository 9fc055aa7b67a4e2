"""Segmentation models, created by name (:func:`earnet.models.registry.create_model`)."""
