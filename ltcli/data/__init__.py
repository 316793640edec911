"""Data: scan and validate folders, split them, make long tails, and load them for training."""
