"""Intake: every channel a vulnerability report arrives by (DESIGN.md §1, §2)."""
