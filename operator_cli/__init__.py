"""``patchctl``: operate a deployed hub from a terminal (start, watch, report on, abort and re-run patch runs).

Everything is found from the hub stack's outputs and parameters, so nobody pastes ARNs. Needs boto3 (the
``operate`` extra); the generator never imports this package.
"""
