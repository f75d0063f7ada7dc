"""Reliability harness: the soak with injected faults, the crash test, the truth replay, the
clock check, and the model card that scores the virtual QLED against the papers."""
