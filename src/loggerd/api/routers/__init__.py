"""One router per resource: health, chambers, latest readings, history, events and gaps."""
