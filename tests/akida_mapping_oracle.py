"""Test helpers (not a test module): BrainChip's mapper as the oracle of ours.

``runtime_mapping`` maps an Akida model with BrainChip's runtime (``to_akida()`` then
``akida.Model.map(akida.AKD1000(), ...)``) and ``our_mapping`` with ours; both return the same
plain description, so that tests and benchmarks compare them with ``==``:

    {"error": [layer names] or None,
     "sequences": [(backend, [[layer names per pass]]), ...],
     "nps": {layer: {np type: count}}, "program": [bytes per hardware sequence]}
"""
from __future__ import annotations

import re

MODES = {"all_nps": "AllNps", "hw_pr": "HwPr", "minimal": "Minimal"}


def runtime_mapping(model, mode: str = "all_nps", hw_only: bool = False):
    import akida
    # A fresh runtime model each time: after a first map(), the runtime's layers may keep a
    # stale (None) mapping when the model is mapped again (measured with akida 2.19.3).
    runtime = model.to_akida()
    try:
        runtime.map(akida.AKD1000(), hw_only=hw_only, mode=getattr(akida.MapMode, MODES[mode]))
    except Exception as err:  # the runtime raises RuntimeError or ValueError
        message = str(err)
        named = re.findall(r"\* Layer '([^']+)'", message)
        if not named:
            named = re.findall(r"layer '([^']+)'", message)[:1]
        return {"error": named, "message": message}
    sequences, nps, program = [], {}, []
    for sequence in runtime.sequences:
        backend = str(sequence.backend).split(".")[-1].lower()
        passes = [[layer.name for layer in p.layers] for p in sequence.passes]
        sequences.append((backend, passes))
        if backend == "hardware":
            program.append(len(sequence.program))
        for p in sequence.passes:
            for layer in p.layers:
                if layer.mapping is not None:
                    counts = {}
                    for np_ in layer.mapping.nps:
                        kind = str(np_.type).split(".")[-1]
                        counts[kind] = counts.get(kind, 0) + 1
                    nps[layer.name] = counts
    return {"error": None, "sequences": sequences, "nps": nps, "program": program}


def our_mapping(model, mode: str = "all_nps", hw_only: bool = False):
    from cnn2snn_tfmot.akida import AkidaMappingError
    try:
        mapping = model.map("AKD1000", hw_only=hw_only, mode=mode)
    except AkidaMappingError as err:
        names = []
        for name, _ in err.problems:
            if name not in names:
                names.append(name)
        return {"error": names, "message": str(err)}
    sequences = [("hardware" if s.hardware else "software", [list(p) for p in s.passes])
                 for s in mapping.sequences]
    return {"error": None, "sequences": sequences, "nps": mapping.np_counts(),
            "program": [s.program_bytes for s in mapping.sequences if s.hardware]}


def same_mapping(ours: dict, theirs: dict) -> bool:
    """Same verdict (and layers named), same sequences, passes and NPs (programs excluded)."""
    if (ours["error"] is None) != (theirs["error"] is None):
        return False
    if ours["error"] is not None:
        return ours["error"] == theirs["error"]
    return ours["sequences"] == theirs["sequences"] and ours["nps"] == theirs["nps"]
