"""Code shared by the pets stages. Every stage depends on this folder (a change re-runs them)."""
