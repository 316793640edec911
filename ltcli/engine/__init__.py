"""Engine: fit, evaluate, schedule and checkpoint, kept apart so each stays short."""
