"""The simulated instruments' command sets: each answers as its real model does (no physics)."""
