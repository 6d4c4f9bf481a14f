"""Replay past one process: sessions sharded by a stable hash, shards replayed on Ray, merged."""
