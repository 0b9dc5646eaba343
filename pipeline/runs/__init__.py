"""A run's life and records, the same for every kind of run: OUTPUT's layout (`layout`), statuses and
totals (`status`), the lease (`lease`), the manifest (`manifest`), what is already done (`resume`)
and the order in which a run does it all (`lifecycle`)."""
