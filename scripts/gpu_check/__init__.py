"""The GPU check: one prepared run of LargeForge's CUDA paths on a lent GPU machine without network.

Modules: ``wheelhouse`` (which wheels the machine lacks), ``bundle`` (build, split into loads,
stash, join), ``install_check`` (the dry run's offline install checks), ``driver`` (the parts
within a time budget, one JSON), ``parts_setup`` / ``parts_train`` / ``parts_serve`` (the parts)
and ``common``. Entry point: ``scripts/gpu_check.sh``; README.md, "GPU check", says how to run it.
"""
