"""Running jobs in worker processes: the loop one worker slot runs."""
