"""earnet: retinal vessel segmentation with EAR-Net, evaluated honestly."""

from earnet.data.registry import get_dataset, list_datasets
from earnet.exceptions import EarnetError, InputError
from earnet.types import Sample, SampleFiles

__version__ = "0.1.0"

__all__ = [
    "EarnetError",
    "InputError",
    "Sample",
    "SampleFiles",
    "__version__",
    "get_dataset",
    "list_datasets",
]
