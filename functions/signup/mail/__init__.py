"""The mail side of `notify`: the outbox, composing, sending, and what queues mail (events, sweeps, organisers)."""
