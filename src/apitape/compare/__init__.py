"""Compare: normalise two answers (masks, rules) and diff them into differences."""
