"""The offline rehearsal of a hub: the generated templates in moto, the real handlers, a simulated SSM fleet.

Shared by the test suite and the benchmarks (``scripts/``), so neither builds its own. ``moto_shims`` is the one
place that reaches into moto's internals; ``template`` reads what the generated templates declare; ``fleet`` is the
SSM fleet simulator; ``hub`` deploys a hub and runs patch runs through it; ``approvals`` answers approval emails.
"""
