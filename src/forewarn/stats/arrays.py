"""The array types every vectorised function speaks, named once."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
Int8Array = NDArray[np.int8]

__all__ = ["BoolArray", "FloatArray", "Int8Array", "IntArray"]
