"""Test-only helpers: resolving CloudFormation values offline and running the generated workflow in moto."""
