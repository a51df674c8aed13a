"""Vulnerability cases: the workflow, the thread with the reporter, notes and the audit trail."""
