"""Our AKD1000 mapper next to BrainChip's: one JSON line per zoo model, size and mode, and one
per mode for a sweep of random models.

Zoo: ``cnn2snn_tfmot.zoo``'s MNIST CNN (28x28), CIFAR separable CNN (32x32), deep separable
CNN (28x28) and AkidaNet-like network (width 0.5, 1000 classes) at 64 to 224 pixels, untrained
(BatchNormalization calibrated on random images, which the mapping does not depend on),
quantized 4/4/8 and converted; and BrainChip's DS-CNN keyword-spotting layout (49x10, built as
an Akida model: ``tests/akida_mapping_models.py``). For each mapping mode ("all_nps", "hw_pr",
"minimal") the line gives, for ours and (when the ``akida`` wheel is installed) BrainChip's
``model.map(akida.AKD1000(), mode=...)``: the sequences (hardware or software), passes, NPs per
type (the HRC counted apart from the NPs, as BrainChip's model zoo does), program bytes per
hardware sequence, whether the two mappings are the same (sequences, passes, per-layer NP counts
and types), and the best time of several rounds of each mapper.

Random sweep (``--random N``): N random single-branch Akida models built to cross every limit
(``tests/akida_mapping_models.py``: inputs 5 to 300, 1 or 3 channels or sparse inputs, kernels,
strides, paddings, pools, widths up to 1024, bitwidths), mapped by both with ``hw_only`` True
and False: per mode, how many verdicts and mappings agree, how many programs are byte-exact,
and what the models exercise (hardware-only verdicts, software sequences, several hardware
sequences, FNP2 layers).

Run: ``python benchmarks/mapping.py [--rounds 5] [--random 400] [--sizes 64 128 224]``
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

MODES = ("all_nps", "hw_pr", "minimal")


def _best_seconds(run, rounds):
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def _zoo_model(name, size):
    if name == "ds_cnn_kws":  # BrainChip's keyword-spotting layout, not in our zoo
        from akida_mapping_models import ds_cnn_kws_akida
        return ds_cnn_kws_akida()
    from akida_mapping_models import converted_zoo_model
    return converted_zoo_model(name, size)


def _summary(mapping: dict) -> dict:
    if mapping["error"] is not None:
        return {"hw_only_error": mapping["error"]}
    totals = {}
    for per_type in mapping["nps"].values():
        for kind, count in per_type.items():
            totals[kind] = totals.get(kind, 0) + count
    names = []
    for backend, passes in mapping["sequences"]:
        first, last = passes[0][0], passes[-1][-1]
        names.append(f"{'HW' if backend == 'hardware' else 'SW'}/"
                     f"{first if first == last else first + '-' + last}")
    return {"sequences": names,
            "passes": sum(len(p) for _, p in mapping["sequences"]),
            "nps": sum(n for kind, n in totals.items() if kind != "HRC"),
            "np_types": totals, "program_bytes": mapping["program"]}


def _zoo(args, have_akida):
    from akida_mapping_oracle import MODES as RUNTIME_MODES
    from akida_mapping_oracle import our_mapping, runtime_mapping, same_mapping
    cases = [("mnist_cnn", 28), ("cifar_separable_cnn", 32), ("deep_separable_cnn", 28),
             ("ds_cnn_kws", 49)] + [("akidanet_like", size) for size in args.sizes]
    for name, size in cases:
        model = _zoo_model(name, size)
        for mode in MODES:
            ours = our_mapping(model, mode)
            line = {"benchmark": "mapping_zoo", "model": name, "input": size, "mode": mode,
                    "ours": _summary(ours),
                    "ours_ms": round(1000 * _best_seconds(
                        lambda a=model, m=mode: a.map("AKD1000", mode=m), args.rounds), 3)}
            if have_akida:
                import akida
                runtime_mode = getattr(akida.MapMode, RUNTIME_MODES[mode])
                theirs = runtime_mapping(model, mode)
                runtime = model.to_akida()
                line.update(brainchip=_summary(theirs), same=same_mapping(ours, theirs),
                            same_program=ours["program"] == theirs["program"],
                            brainchip_ms=round(1000 * _best_seconds(
                                lambda r=runtime, m=runtime_mode: r.map(akida.AKD1000(), mode=m),
                                args.rounds), 3))
            print(json.dumps(line), flush=True)


def _random(args):
    from akida_mapping_models import seeded_model
    from akida_mapping_oracle import our_mapping, runtime_mapping, same_mapping
    stats = {mode: {"models": 0, "verdicts_same": 0, "hw_only_mappable": 0, "mappings_same": 0,
                    "mappings": 0, "programs": 0, "programs_exact": 0, "software": 0,
                    "several_hardware_sequences": 0, "fnp2": 0, "differences": []}
             for mode in MODES}
    seed = 0
    built = 0
    while built < args.random:
        model = seeded_model(args.seed + seed)
        seed += 1
        if model is None:
            continue
        built += 1
        for mode in MODES:
            entry = stats[mode]
            entry["models"] += 1
            for hw_only in (True, False):
                ours, theirs = our_mapping(model, mode, hw_only), runtime_mapping(model, mode,
                                                                                  hw_only)
                same = same_mapping(ours, theirs)
                if hw_only:
                    entry["verdicts_same"] += same
                    entry["hw_only_mappable"] += theirs["error"] is None
                else:
                    entry["mappings"] += 1
                    entry["mappings_same"] += same
                    backends = [backend for backend, _ in theirs["sequences"]]
                    entry["software"] += "software" in backends
                    entry["several_hardware_sequences"] += backends.count("hardware") > 1
                    entry["fnp2"] += any("FNP2" in n for n in theirs["nps"].values())
                    for mine, real in zip(ours.get("program") or [], theirs["program"]):
                        entry["programs"] += 1
                        entry["programs_exact"] += mine == real
                if not same:
                    entry["differences"].append({"seed": args.seed + seed - 1,
                                                 "hw_only": hw_only, "ours": _summary(ours),
                                                 "brainchip": _summary(theirs)})
    for mode in MODES:
        print(json.dumps({"benchmark": "mapping_random", "mode": mode, "first_seed": args.seed,
                          **stats[mode]}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 96, 128, 160, 192, 224])
    parser.add_argument("--random", type=int, default=0,
                        help="random models to compare with BrainChip's mapper (needs akida)")
    parser.add_argument("--seed", type=int, default=0, help="first seed of the random models")
    parser.add_argument("--no-zoo", action="store_true")
    args = parser.parse_args()
    try:
        import akida  # noqa: F401 - the oracle, optional
        have_akida = True
    except ImportError:
        have_akida = False
    if not args.no_zoo:
        _zoo(args, have_akida)
    if args.random:
        if not have_akida:
            raise SystemExit("--random compares with BrainChip's mapper: pip install akida")
        _random(args)


if __name__ == "__main__":
    main()
