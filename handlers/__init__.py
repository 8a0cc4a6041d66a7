"""Lambda handlers of the patch orchestrator hub (packaged as one zip)."""
