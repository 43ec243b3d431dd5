"""Records of runs: the ledger, the run record a pipeline writes, failure classes and the leaderboard."""
