"""The update repository: publishing bundles, rollups and deltas into a signed TUF tree."""
