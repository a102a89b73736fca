"""Design-space exploration: machine configurations x models x lengths on a Dask cluster.

space (the --space syntax, grid / random search), area (FPGA resources: measured or analytic),
workload (sequence lengths and mixes), programs (cached compiled programs, the worker tasks),
engine (Dask: local cluster or --address), explore (resumable run), report (CSV, JSON, plot).
"""
