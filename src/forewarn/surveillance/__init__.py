"""Hard-indicator surveillance: every method over every organisation and indicator at once, stored as signals."""
