"""Runs the README's quick start with an installed cnn2snn_tfmot, outside the repository.

Used by `make wheel-check`: the interpreter given is a clean environment where only the wheel
(and its dependencies) is installed. The quick start's code block is run in a temporary
directory; the script checks that the package came from that environment (not from the
repository), that the printed accuracy is credible and that the export was written.

Run: ``python .ci/quick_start.py --python ENV/bin/python --readme README.md``
"""
import argparse
import os
import subprocess
import sys
import tempfile


def quick_start_code(readme: str) -> str:
    with open(readme) as handle:
        text = handle.read()
    marker = "## Quick start"
    if marker not in text:
        raise SystemExit(f"{readme}: no '{marker}' section")
    return text.split(marker, 1)[1].split("```python\n", 1)[1].split("```", 1)[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", required=True, help="interpreter of the clean environment")
    parser.add_argument("--readme", required=True)
    args = parser.parse_args()
    code = quick_start_code(args.readme)
    check = ("\nimport os, cnn2snn_tfmot\n"
             "print('PACKAGE', os.path.dirname(cnn2snn_tfmot.__file__))\n")
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("PYTHONPATH", "TF_USE_LEGACY_KERAS")}
    environment["TF_CPP_MIN_LOG_LEVEL"] = "2"
    with tempfile.TemporaryDirectory(prefix="cnn2snn_tfmot_quick_start_") as directory:
        result = subprocess.run([os.path.abspath(args.python), "-c", code + check],
                                cwd=directory, capture_output=True, text=True, env=environment,
                                timeout=1800)
        print(result.stdout[-3000:])
        if result.returncode != 0:
            print(result.stderr[-5000:], file=sys.stderr)
            return 1
        lines = result.stdout.strip().splitlines()
        package = lines[-1].split(" ", 1)[1]
        accuracy = float(lines[-2])
        exported = sorted(os.listdir(os.path.join(directory, "exported")))
    repository = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    problems = []
    if os.path.realpath(package) == os.path.realpath(os.path.join(repository, "cnn2snn_tfmot")):
        problems.append(f"the package was imported from the repository ({package})")
    if accuracy < 0.9:
        problems.append(f"the quick start's Akida accuracy is {accuracy}, below 0.9")
    if exported != ["emulator_savedmodel", "keras_savedmodel", "model.akida"]:
        problems.append(f"the export wrote {exported}")
    for problem in problems:
        print(f"wheel check: {problem}", file=sys.stderr)
    print(f"wheel check: package at {package}, Akida accuracy {accuracy:.4f}, export {exported}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
