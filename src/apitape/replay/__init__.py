"""Replay: send each recorded request to the target, sessions in order, values carried."""
