"""The Lambda runtime every handler shares: entry point and per-container cache, AWS clients, event reading,
logs and metrics. Nothing here knows what a handler does."""
