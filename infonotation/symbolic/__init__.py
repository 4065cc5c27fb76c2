"""symbolic layer."""
