"""The use cases: frozen request in, frozen result out, no formatting.

`cli`, `api`, `triggers` and the dashboard are thin adapters over these modules; this package is the one
place that composes the engine, the run store, the registry, the gate and the deployers. Each module is one
use case and imports its heavy dependencies inside functions, so `retrain --help` stays fast.
"""
