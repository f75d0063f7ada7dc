"""Turning measured curves into the numbers the papers report."""
