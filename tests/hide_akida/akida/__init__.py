# Put tests/hide_akida first on PYTHONPATH to run everything as if BrainChip's optional akida
# runtime were not installed (`make test-without-akida`): `import akida` then fails like a
# missing package, in the test process and in every process it starts.
raise ImportError("BrainChip's akida runtime is hidden for this run (tests/hide_akida is on "
                  "PYTHONPATH).")
