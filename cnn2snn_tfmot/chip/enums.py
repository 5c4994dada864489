"""``Padding`` and ``PoolType``: the runtime's enums, with the runtime's member names and values.

Both also accept strings ("same"/"valid", "none"/"max"/"average") and the runtime's own enum
members (``akida.Padding.Same``...), matched by name, so that code written for BrainChip's API
runs unchanged.
"""
from __future__ import annotations

import enum


class Padding(enum.Enum):
    """Convolution (and max-pooling) padding, as ``akida.Padding``.

    ``Same`` pads like TensorFlow's "SAME" (top/left get ``pad_total // 2``), ``Valid`` does not
    pad.

    Example:
        >>> from cnn2snn_tfmot.chip.enums import Padding
        >>> Padding.coerce("same") is Padding.Same
        True
    """
    Valid = 0
    Same = 1

    @classmethod
    def coerce(cls, value, what: str = "padding") -> "Padding":
        """Returns the member for ``value`` (a member, its name, "same"/"valid", or a runtime
        ``akida.Padding``), else raises a ValueError naming ``what`` and the valid choices.

        Example:
            >>> from cnn2snn_tfmot.chip.enums import Padding
            >>> Padding.coerce("Valid")
            <Padding.Valid: 0>
        """
        return _coerce(cls, value, what, {"same": cls.Same, "valid": cls.Valid})

    @property
    def tf_name(self) -> str:
        """The back-end's name: "same" or "valid"."""
        return self.name.lower()


class PoolType(enum.Enum):
    """Pooling of a layer's potentials, as ``akida.PoolType``.

    ``Max`` takes the maximum over ``pool_size`` windows; ``Average`` is Akida's *global* average
    pooling, which sums (does not divide) the potentials over the whole map.

    Example:
        >>> from cnn2snn_tfmot.chip.enums import PoolType
        >>> PoolType.coerce("max") is PoolType.Max
        True
    """
    NoPooling = 0
    Max = 1
    Average = 2

    @classmethod
    def coerce(cls, value, what: str = "pool_type") -> "PoolType":
        """Returns the member for ``value`` (a member, its name, "none"/"max"/"average", or a
        runtime ``akida.PoolType``), else raises a ValueError naming ``what`` and the choices.

        Example:
            >>> from cnn2snn_tfmot.chip.enums import PoolType
            >>> PoolType.coerce("average")
            <PoolType.Average: 2>
        """
        return _coerce(cls, value, what,
                       {"none": cls.NoPooling, "max": cls.Max, "average": cls.Average})


def _coerce(cls, value, what, aliases):
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        key = value.strip()
        if key.lower() in aliases:
            return aliases[key.lower()]
        if key in cls.__members__:
            return cls.__members__[key]
    else:
        # The runtime's pybind11 enums: matched by name, never by value (values may differ).
        name = getattr(value, "name", None)
        if isinstance(name, str) and name in cls.__members__ and \
                type(value).__name__ == cls.__name__:
            return cls.__members__[name]
    choices = ", ".join([f"{cls.__name__}.{m}" for m in cls.__members__] +
                        [repr(a) for a in aliases])
    raise ValueError(f"{what}: invalid value {value!r}; valid choices are {choices}.")
