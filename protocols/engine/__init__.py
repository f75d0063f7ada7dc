"""The engine: one runner per channel on device time, its steps, stress, clock and milestones."""
