"""Accounts endpoints."""
