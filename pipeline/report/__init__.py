"""Run reports: a page per run (totals, configuration, throughput, failures by reason, before/after
pictures) and an index, built from the run card and the manifest; `stylebatch status` from the same."""
