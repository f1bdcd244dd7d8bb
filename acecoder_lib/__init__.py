"""AceCoder Workbench: the thin library behind the notebooks in ``notebooks/``.

One module per phase plus shared plumbing: ``paths`` (where things live), ``io`` (artifact files with fixed
schemas), ``models`` (model registry), ``data`` (seed and evaluation loaders), ``generation`` (backends),
``execution`` (the sandboxed test runner), ``batch`` (the papermill runner).
"""
__version__ = "0.1.0"
