"""Early warning: a risk model over hard signals, soft measures, context and history, backtested point-in-time."""
