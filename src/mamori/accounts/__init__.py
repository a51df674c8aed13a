"""Accounts, roles, API tokens and authorization checks."""
